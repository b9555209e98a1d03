package flow

import (
	"context"
	"encoding/json"
	"errors"
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
// exists) and records {"run_id": N} as the job's output. The run is owned by
// the role that inserted the job (a trigger stamps it into the job's
// metadata as flow_owner), under that role's kind grants and limits. A spec
// that is invalid, over a limit or has a kind the owner may not start cancels
// the job with the reason and starts nothing: trying again would fail alike.
// It needs [Middleware]; [RiverConfig] installs both.
type StartWorker struct {
	river.WorkerDefaults[StartArgs]
}

// Work implements river.Worker.
func (*StartWorker) Work(ctx context.Context, job *river.Job[StartArgs]) error {
	nc := nodeFromContext(ctx)
	if nc == nil {
		return ErrNotNode
	}
	var meta struct {
		Owner *string `json:"flow_owner"`
	}
	_ = json.Unmarshal(job.Metadata, &meta)
	return InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var runID int64
		err := tx.QueryRow(ctx, "SELECT flow.start($1::jsonb, NULL, $2)", string(job.Args.Spec), meta.Owner).Scan(&runID)
		if err != nil {
			err = asSpecError(err)
			var specErr *SpecError
			var notAllowed *NotAllowedError
			if errors.As(err, &specErr) || errors.As(err, &notAllowed) {
				return river.JobCancel(err)
			}
			return err
		}
		// The output goes in with this same completion.
		nc.output = fmt.Appendf(nil, `{"run_id": %d}`, runID)
		return nil
	})
}
