package flow

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// DeadlineKind is the job kind of a run's deadline. flow.start (and a child
// run's start, and flow.retry) inserts one such job for a run whose spec has
// "timeout_ms", scheduled at the run's deadline, on the spec's queue
// ("default" when it names none). It is a plain River job, not a node of the
// run. See README "Run deadlines".
const DeadlineKind = "flow.run_deadline"

// DeadlineArgs are a flow.run_deadline job's args.
type DeadlineArgs struct {
	// RunID is the run whose deadline the job is.
	RunID int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (DeadlineArgs) Kind() string { return DeadlineKind }

// DeadlineWorker works flow.run_deadline jobs: at a run's deadline it
// cancels the run and every run below it (flow.cancel_at_deadline), with the
// reason "run N passed its deadline (timeout_ms T) and was cancelled"; a
// run that finished first (or was retried since: it has a new deadline job)
// is left alone. [RiverConfig] installs it; a river.Config built by hand
// adds river.AddWorker(workers, flow.NewDeadlineWorker(pool)).
type DeadlineWorker struct {
	river.WorkerDefaults[DeadlineArgs]
	pool *pgxpool.Pool
}

// NewDeadlineWorker returns the worker of flow.run_deadline jobs, cancelling
// runs on pool's database (whose role must own the flow schema or be an
// admin: the worker's role).
func NewDeadlineWorker(pool *pgxpool.Pool) *DeadlineWorker {
	return &DeadlineWorker{pool: pool}
}

// Work implements river.Worker.
func (w *DeadlineWorker) Work(ctx context.Context, job *river.Job[DeadlineArgs]) error {
	_, err := w.pool.Exec(ctx, "SELECT flow.cancel_at_deadline($1, $2)", job.Args.RunID, job.ID)
	return err
}
