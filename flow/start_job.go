package flow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// StartKind is the job kind of the River-client door: an application that
// only has a River client (in any language) or only SQL starts a workflow by
// inserting one job of this kind whose args are a start spec.
const StartKind = "flow.start"

// StartArgs is a flow.start job's args: a workflow spec, as JSON.
type StartArgs struct {
	// Spec is the workflow spec (the job's args object itself).
	Spec json.RawMessage
}

// Kind implements river.JobArgs.
func (StartArgs) Kind() string { return StartKind }

// MarshalJSON makes the spec the job's args.
func (a StartArgs) MarshalJSON() ([]byte, error) {
	if len(a.Spec) == 0 {
		return []byte("{}"), nil
	}
	return a.Spec, nil
}

// UnmarshalJSON takes the job's args as the spec.
func (a *StartArgs) UnmarshalJSON(b []byte) error {
	a.Spec = append(json.RawMessage(nil), b...)
	return nil
}

// StartWorker works flow.start jobs: it starts the run in the job's own
// completion transaction (so the job completes if and only if the run
// exists) and records {"run_id": N} as the job's output. An invalid spec
// cancels the job with the validation error and starts nothing. It needs
// [Middleware]; [RiverConfig] installs both.
type StartWorker struct {
	river.WorkerDefaults[StartArgs]
}

// Work implements river.Worker.
func (*StartWorker) Work(ctx context.Context, job *river.Job[StartArgs]) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return ErrNotNode
	}
	var problem *string
	if err := nc.pool.QueryRow(ctx, "SELECT flow.spec_problem($1::jsonb)", string(job.Args.Spec)).Scan(&problem); err != nil {
		return fmt.Errorf("htdag: checking the spec: %w", err)
	}
	if problem != nil {
		return river.JobCancel(&SpecError{Problem: *problem})
	}
	return InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var runID int64
		if err := tx.QueryRow(ctx, "SELECT flow.start($1::jsonb)", string(job.Args.Spec)).Scan(&runID); err != nil {
			return asSpecError(err)
		}
		// The output goes in with this same completion.
		nc.output = fmt.Appendf(nil, `{"run_id": %d}`, runID)
		return nil
	})
}
