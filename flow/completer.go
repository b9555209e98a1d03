package flow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// completerMaxBatch bounds one grouped completion.
const completerMaxBatch = 1000

// completerTimeout bounds one grouped completion's round trip.
const completerTimeout = 30 * time.Second

// completer commits node completions. There is no background goroutine: the
// first caller to find it idle flushes the queue; completions that arrive
// while a flush is in flight wait for the next flush, which a fresh goroutine
// runs as soon as the current one ends. A lone completion therefore commits at
// once, and a burst is committed in a few grouped statements. A completion
// that expands the node commits in a transaction of its own, in its caller's
// goroutine: an expansion inserts a run, and a grouped flush would run them
// one after another while every other completion waited.
type completer struct {
	pool      *pgxpool.Pool
	completed *completedJobs // told to River's completer through Driver
	observer  atomic.Pointer[Observer]
	// fleet is the middleware's membership, whose nodes this completes:
	// the release trigger wakes it first for the children they release.
	fleet *atomic.Pointer[Fleet]

	mu          sync.Mutex
	queue       []*completion
	flushing    bool
	completions int64
	failures    int64
	commits     int64
}

type completion struct {
	node *nodeContext
	done chan error
}

func newCompleter(pool *pgxpool.Pool) *completer {
	return &completer{pool: pool, completed: completedJobsOf(pool)}
}

// releaser is the worker id the release trigger may wake first: this
// member's, when releases choose it on its own channel; nil otherwise.
func (c *completer) releaser() *int64 {
	if c.fleet == nil {
		return nil
	}
	f := c.fleet.Load()
	if f == nil || f.wake == nil || f.wake.listenGen.Load() == 0 {
		return nil
	}
	id := f.id
	return &id
}

func (c *completer) stats() CompleterStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CompleterStats{Completions: c.completions, Failures: c.failures, Commits: c.commits}
}

// complete queues nc's completion and returns once it committed (nil) or
// failed (the error, which fails the attempt in River).
func (c *completer) complete(nc *nodeContext) error {
	req := &completion{node: nc, done: make(chan error, 1)}
	if nc.expand != nil {
		// An expansion commits in its own transaction, at once and beside
		// the others: queued behind one flush at a time, a burst of
		// expansions (each a run insert) ran one after another. InTx
		// completions stay grouped: measured, ingestion's stores were 15%
		// faster grouped, while decompose's expansions were 20% faster alone.
		c.flush([]*completion{req})
		return <-req.done
	}
	c.mu.Lock()
	c.queue = append(c.queue, req)
	lead := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if lead {
		c.flushOnce()
	}
	return <-req.done
}

// flushOnce commits one batch, then hands any later arrivals to a new
// goroutine so the caller's own Work can return.
func (c *completer) flushOnce() {
	c.mu.Lock()
	n := min(len(c.queue), completerMaxBatch)
	batch := slices.Clone(c.queue[:n])
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.flush(batch)

	c.mu.Lock()
	more := len(c.queue) > 0
	if !more {
		c.flushing = false
	}
	c.mu.Unlock()
	if more {
		go c.flushOnce()
	}
}

// completeSQL completes running jobs in one statement, in id order (the ids
// come sorted), merging each node's output into metadata as River does. $5
// is this worker's id in the fleet (NULL: none, or it is not woken on a
// channel of its own): the release trigger then wakes it first for the
// children it releases (flow.notify_runnable), since it is awake and its
// caches are warm. It
// completes only the attempt that was worked (a node rescued after its worker
// was declared dead runs a later attempt, which this one must not complete)
// and never a node whose cancel was asked for: after a cancel commits, no
// node of the run completes. A node that called Skip is completed with its
// reason in metadata flow_skipped and no output.
const completeSQL = `
UPDATE public.river_job j
   SET state = 'completed',
       finalized_at = now(),
       metadata = CASE WHEN c.skip IS NOT NULL THEN j.metadata || jsonb_build_object('flow_skipped', c.skip)
                       WHEN c.output IS NULL THEN j.metadata
                       ELSE j.metadata || jsonb_build_object('output', c.output) END
  FROM unnest($1::bigint[], $2::jsonb[], $3::smallint[], $4::text[]) AS c(id, output, attempt, skip),
       (SELECT set_config('flow.releasing_worker', coalesce($5::bigint::text, ''), true)) AS releaser
 WHERE j.id = c.id AND j.state = 'running' AND j.attempt = c.attempt
   AND NOT j.metadata ? 'cancel_attempted_at'
RETURNING j.id`

// completerRetries bounds how many times a flush is tried again after its
// connection was lost (PostgreSQL restarting: the attempt must not be lost
// for that) or it was chosen as a deadlock victim; the pauses between tries
// grow from 50 ms to 2 s, about 6 s in all.
const completerRetries = 7

// flush commits batch's completions, counts them, and reports to each caller.
func (c *completer) flush(batch []*completion) {
	ctx, cancel := context.WithTimeout(context.Background(), completerTimeout)
	defer cancel()
	var start time.Time
	o := c.observer.Load()
	if o != nil {
		start = time.Now()
	}

	slices.SortFunc(batch, func(a, b *completion) int { return cmp.Compare(a.node.jobID, b.node.jobID) })
	var (
		errs      []error
		completed map[int64]bool
		err       error
	)
	pause := 50 * time.Millisecond
	for try := 1; ; try++ {
		errs, completed, err = c.flushOnceTx(ctx, batch, try > 1)
		if err == nil || try == completerRetries || !retryableFlushError(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
	var done int64
	now := time.Now()
	for i, r := range batch {
		switch {
		case errs[i] != nil:
		case err != nil:
			errs[i] = fmt.Errorf("htdag: completing node: %w", err)
		case !completed[r.node.jobID]:
			errs[i] = fmt.Errorf("htdag: node %q: job %d was not completed", r.node.meta.NodeID, r.node.jobID)
		default:
			done++
			if r.node.expand == nil && r.node.job != nil {
				c.completed.add(r.node.job, now)
			}
		}
	}
	c.mu.Lock()
	c.completions += done
	c.failures += int64(len(batch)) - done
	c.commits++
	c.mu.Unlock()
	if o != nil {
		(*o).CompletionsCommitted(CompleterCommit{Nodes: len(batch), Completed: int(done), Duration: time.Since(start)})
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// retryableFlushError reports whether a failed flush may be tried again: its
// transaction was rolled back, or its connection is gone (the commit may have
// happened: the retry finds such nodes completed with their attempt and
// counts them, without running their InTx functions again).
func retryableFlushError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
		return true
	}
	return isConnectionError(err)
}

// flushOnceTx tries batch's completions once, in one transaction: a single
// statement, its own transaction, when no node has InTx functions (one
// round trip, where BEGIN and COMMIT would make three: a chain's step waits
// for it, through a pooler too). It returns each completion's own error
// (InTx failed, attempt stale, cancel asked for), the jobs it completed, and
// the error that failed the whole try. After a try whose outcome is unknown
// (again), a node already completed by its own attempt counts as completed.
func (c *completer) flushOnceTx(ctx context.Context, batch []*completion, again bool) ([]error, map[int64]bool, error) {
	errs := make([]error, len(batch))
	completed := map[int64]bool{}
	var err error
	if !slices.ContainsFunc(batch, func(r *completion) bool { return len(r.node.txFuncs) > 0 }) {
		err = completeBatch(ctx, c.pool, batch, errs, completed, again, c.releaser())
	} else {
		err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			// InTx writes commit only with their node's completion: lock
			// the jobs that have them and run their functions only for
			// those still running the attempt that was worked.
			status, err := lockNodes(ctx, tx, batch, true)
			if err != nil {
				return err
			}
			for i, r := range batch {
				if len(r.node.txFuncs) == 0 {
					continue
				}
				if e := status[r.node.jobID].completionError(r.node, again); e != nil {
					errs[i] = e
					continue
				}
				errs[i] = runInSavepoint(ctx, tx, r.node)
			}
			return completeBatch(ctx, tx, batch, errs, completed, again, c.releaser())
		})
	}
	if err != nil {
		return errs, nil, err
	}
	for i, r := range batch {
		if errs[i] == errAlreadyCompleted {
			errs[i] = nil
			completed[r.node.jobID] = true
		}
	}
	return errs, completed, nil
}

// completeBatch (on a transaction, or on the pool) completes the batch's nodes that have no error yet (those
// that expand were parked by their InTx function), records them in
// completed, and says in errs why any other was not completed.
func completeBatch(ctx context.Context, q querier, batch []*completion, errs []error, completed map[int64]bool, again bool, releaser *int64) error {
	ids, outputs, attempts, skips := completionParams(batch, errs)
	var expanded []int64
	for i, r := range batch {
		if r.node.expand != nil && errs[i] == nil {
			// Parked by flow.expand, not completed here.
			expanded = append(expanded, r.node.jobID)
		}
	}
	if len(ids) > 0 {
		rows, err := q.Query(ctx, completeSQL, ids, outputs, attempts, skips, releaser)
		if err != nil {
			return err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range done {
			completed[id] = true
		}
	}
	for _, id := range expanded {
		completed[id] = true
	}
	if len(completed) == len(ids)+len(expanded) {
		return nil
	}
	// Say why the others were not completed.
	var missing []*completion
	for i, r := range batch {
		if errs[i] == nil && !completed[r.node.jobID] {
			missing = append(missing, r)
		}
	}
	status, err := lockNodes(ctx, q, missing, false)
	if err != nil {
		return err
	}
	for i, r := range batch {
		if errs[i] != nil || completed[r.node.jobID] {
			continue
		}
		if e := status[r.node.jobID].completionError(r.node, again); e != nil {
			errs[i] = e
		} else {
			errs[i] = fmt.Errorf("htdag: node %q: job %d was not completed", r.node.meta.NodeID, r.node.jobID)
		}
	}
	return nil
}

// completionParams returns the ids, outputs and attempts of the batch's
// completions that have not failed and do not expand.
func completionParams(batch []*completion, errs []error) ([]int64, []*string, []int16, []*string) {
	ids := make([]int64, 0, len(batch))
	outputs := make([]*string, 0, len(batch))
	attempts := make([]int16, 0, len(batch))
	skips := make([]*string, 0, len(batch))
	for i, r := range batch {
		if errs[i] != nil || r.node.expand != nil {
			continue
		}
		ids = append(ids, r.node.jobID)
		attempts = append(attempts, int16(r.node.attempt))
		skips = append(skips, r.node.skip)
		if r.node.output == nil {
			outputs = append(outputs, nil)
		} else {
			s := string(r.node.output)
			outputs = append(outputs, &s)
		}
	}
	return ids, outputs, attempts, skips
}

// jobStatus is what the completer needs to know of a node's job.
type jobStatus struct {
	found           bool
	state           string
	attempt         int
	cancelRequested bool
	expanded        bool // it has a child run
}

// completionError says why a node's attempt cannot be completed, or nil when
// it can: its job runs the attempt that was worked and no cancel was asked.
// With again (a retried flush), a job completed by this very attempt is not
// an error: the earlier try committed.
func (st jobStatus) completionError(nc *nodeContext, again bool) error {
	switch {
	case !st.found:
		return fmt.Errorf("htdag: node %q: job %d no longer exists; its completion and InTx writes were not committed", nc.meta.NodeID, nc.jobID)
	case st.state == "running" && st.attempt == nc.attempt && st.cancelRequested:
		// River records the attempt as cancelled, not as an error to retry.
		return river.JobCancel(fmt.Errorf("htdag: node %q: its run was cancelled while it ran; its completion and InTx writes were not committed", nc.meta.NodeID))
	case st.state == "running" && st.attempt == nc.attempt:
		return nil
	case again && st.doneByThisAttempt(nc):
		return errAlreadyCompleted
	case st.attempt != nc.attempt:
		return fmt.Errorf("htdag: node %q: job %d runs attempt %d now, not this attempt %d (its worker was thought dead and the node was handed on); "+
			"this attempt's completion and InTx writes were not committed", nc.meta.NodeID, nc.jobID, st.attempt, nc.attempt)
	default:
		return fmt.Errorf("htdag: node %q: job %d is no longer running (it is %s); its completion and InTx writes were not committed",
			nc.meta.NodeID, nc.jobID, st.state)
	}
}

// doneByThisAttempt: the job is completed, or parked by its expansion, at
// the attempt that was worked.
func (st jobStatus) doneByThisAttempt(nc *nodeContext) bool {
	return st.found && st.attempt == nc.attempt &&
		(st.state == "completed" || (nc.expand != nil && st.expanded && st.state != "running"))
}

// errAlreadyCompleted marks, inside a retried flush, a node that the earlier
// try completed.
var errAlreadyCompleted = errors.New("htdag: completed by an earlier try")

// lockNodes reads (and with forUpdate locks, in id order) the jobs of batch's
// nodes; with forUpdate only those that have InTx functions.
func lockNodes(ctx context.Context, q querier, batch []*completion, forUpdate bool) (map[int64]jobStatus, error) {
	var ids []int64
	for _, r := range batch {
		if !forUpdate || len(r.node.txFuncs) > 0 {
			ids = append(ids, r.node.jobID)
		}
	}
	sql := `SELECT j.id, j.state::text, j.attempt, j.metadata ? 'cancel_attempted_at',
	               EXISTS (SELECT 1 FROM flow.run r WHERE r.parent_job_id = j.id)
	          FROM public.river_job j WHERE j.id = ANY ($1) ORDER BY j.id`
	if forUpdate {
		sql += ` FOR UPDATE OF j`
	}
	rows, err := q.Query(ctx, sql, ids)
	if err != nil {
		return nil, err
	}
	status := make(map[int64]jobStatus, len(ids))
	var (
		id  int64
		st  jobStatus
		att int16
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &st.state, &att, &st.cancelRequested, &st.expanded}, func() error {
		st.found = true
		st.attempt = int(att)
		status[id] = st
		return nil
	})
	return status, err
}

func runInSavepoint(ctx context.Context, tx pgx.Tx, nc *nodeContext) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	for _, fn := range nc.txFuncs {
		if err := fn(ctx, sp); err != nil {
			_ = sp.Rollback(ctx)
			return fmt.Errorf("htdag: node %q: completion transaction: %w", nc.meta.NodeID, err)
		}
	}
	return sp.Commit(ctx)
}
