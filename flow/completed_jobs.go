package flow

import (
	"context"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// completedJobs holds the jobs the middleware's completer has committed as
// completed and River's own completer has not yet been told about.
//
// When a node's Work returns nil, htdag completes the job itself (with its
// output, fenced by attempt, in the transaction that releases its children)
// and River's completer then sets the same job completed again. That second
// statement changes nothing, yet measured it was 17% of all statement time
// on a 10,000-node fan-out: River's batched UPDATE ... FROM unnest joins a
// few hundred ids by hashing the whole of river_job. Through [Driver], River's
// completer skips the jobs in this set and reports them completed as they
// are, so River's events and statistics see what they would have seen.
type completedJobs struct {
	mu   sync.Mutex
	rows map[int64]completedJob
}

type completedJob struct {
	row *rivertype.JobRow // as River will report it: completed, finalized
	at  time.Time
}

// completedJobsMaxAge is how long an entry waits for River's completer
// before it may be dropped (River's completer takes milliseconds; an entry
// left by a client that stopped first would otherwise stay for the life of
// the process). A dropped entry costs only the statement it would have saved.
const completedJobsMaxAge = time.Minute

// completedJobsByPool links a pool's middleware to the drivers on the same
// pool: River's client takes the driver and the middleware separately.
// Entries go when their pool is garbage.
var completedJobsByPool sync.Map // weak.Pointer[pgxpool.Pool] -> *completedJobs

// completedJobsOf returns pool's set (nil for a nil pool).
func completedJobsOf(pool *pgxpool.Pool) *completedJobs {
	if pool == nil {
		return nil
	}
	key := weak.Make(pool)
	if v, ok := completedJobsByPool.Load(key); ok {
		return v.(*completedJobs)
	}
	v, loaded := completedJobsByPool.LoadOrStore(key, &completedJobs{rows: map[int64]completedJob{}})
	if !loaded {
		runtime.AddCleanup(pool, func(k weak.Pointer[pgxpool.Pool]) { completedJobsByPool.Delete(k) }, key)
	}
	return v.(*completedJobs)
}

// add records that job was completed at finalizedAt.
func (s *completedJobs) add(job *rivertype.JobRow, finalizedAt time.Time) {
	row := *job
	row.State = rivertype.JobStateCompleted
	row.FinalizedAt = &finalizedAt
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rows) >= 10_000 {
		for id, c := range s.rows {
			if finalizedAt.Sub(c.at) > completedJobsMaxAge {
				delete(s.rows, id)
			}
		}
	}
	s.rows[job.ID] = completedJob{row: &row, at: finalizedAt}
}

// take removes from params the jobs River asks to complete that htdag has
// completed already, returning their rows and the params left (nil when none
// are left). A job whose completion would merge metadata (River's
// RecordOutput) goes to the database as River asked.
func (s *completedJobs) take(params *riverdriver.JobSetStateIfRunningManyParams) ([]*rivertype.JobRow, *riverdriver.JobSetStateIfRunningManyParams) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []*rivertype.JobRow
	keep := make([]int, 0, len(params.ID))
	for i, id := range params.ID {
		c, ok := s.rows[id]
		if ok {
			delete(s.rows, id)
		}
		if ok && params.State[i] == rivertype.JobStateCompleted && !params.MetadataDoMerge[i] {
			rows = append(rows, c.row)
			continue
		}
		keep = append(keep, i)
	}
	if len(keep) == len(params.ID) {
		return nil, params
	}
	if len(keep) == 0 {
		return rows, nil
	}
	rest := &riverdriver.JobSetStateIfRunningManyParams{Now: params.Now, Schema: params.Schema}
	for _, i := range keep {
		rest.ID = append(rest.ID, params.ID[i])
		rest.Attempt = append(rest.Attempt, params.Attempt[i])
		rest.ErrData = append(rest.ErrData, params.ErrData[i])
		rest.FinalizedAt = append(rest.FinalizedAt, params.FinalizedAt[i])
		rest.MetadataDoMerge = append(rest.MetadataDoMerge, params.MetadataDoMerge[i])
		rest.MetadataUpdates = append(rest.MetadataUpdates, params.MetadataUpdates[i])
		rest.ScheduledAt = append(rest.ScheduledAt, params.ScheduledAt[i])
		rest.State = append(rest.State, params.State[i])
	}
	return rows, rest
}

// len is how many completions wait for River's completer (for tests).
func (s *completedJobs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

// completedJobsExecutor is River's executor with the completions htdag made
// taken out of River's completer's statements.
type completedJobsExecutor struct {
	riverdriver.Executor
	completed *completedJobs
}

// JobSetStateIfRunningMany implements riverdriver.Executor.
func (e *completedJobsExecutor) JobSetStateIfRunningMany(ctx context.Context, params *riverdriver.JobSetStateIfRunningManyParams) ([]*rivertype.JobRow, error) {
	rows, rest := e.completed.take(params)
	if rest == nil {
		return rows, nil
	}
	more, err := e.Executor.JobSetStateIfRunningMany(ctx, rest)
	if err != nil {
		// River tries the whole batch again; the jobs taken out go to the
		// database then, which reports them completed as they are.
		return nil, err
	}
	return append(rows, more...), nil
}
