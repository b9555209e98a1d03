package flow

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Problem is one row of flow.check: something about a run that breaks the
// engine's invariants (counts that disagree with the jobs, a stuck run, a
// lost release), or that the fleet will not do (a node running on a dead
// worker, waiting in a queue no live worker serves), or that waits a long
// while. NodeID is empty for a problem of the run as a whole.
type Problem struct {
	// RunID is the run with the problem; 0 for a problem of no one run (a
	// concurrency key whose count disagrees with its nodes).
	RunID int64 `json:"run_id"`
	// NodeID is the node with the problem ("" for the run as a whole).
	NodeID string `json:"node_id,omitempty"`
	// Problem says what is wrong.
	Problem string `json:"problem"`
	// Category is one of the ProblemCategory constants.
	Category ProblemCategory `json:"category"`
}

// ProblemCategory sorts flow.check's problems.
type ProblemCategory string

// Problem categories. Consistency and Stuck problems break the engine's
// invariants; Fleet and Schedule problems depend on the workers and the
// clock.
const (
	// ProblemConsistency: a counter disagrees with the jobs (an engine bug).
	ProblemConsistency ProblemCategory = "consistency"
	// ProblemStuck: the run can never finish as it is.
	ProblemStuck ProblemCategory = "stuck"
	// ProblemFleet: no live worker will do what waits (a node running on a
	// dead worker until it is rescued, a queue or kind nobody serves).
	ProblemFleet ProblemCategory = "fleet"
	// ProblemSchedule: nothing in the run is due for more than a day.
	ProblemSchedule ProblemCategory = "schedule"
)

// Invariant reports whether the problem breaks the engine's invariants
// (consistency or stuck), as opposed to the fleet's or the schedule's.
func (c ProblemCategory) Invariant() bool { return c == ProblemConsistency || c == ProblemStuck }

// Check runs flow.check for one run (runID > 0, any state) or, with runID 0,
// for every unfinished run. A healthy database has no problems.
func (c *Client) Check(ctx context.Context, runID int64) ([]Problem, error) {
	var arg *int64
	if runID > 0 {
		arg = &runID
	}
	rows, err := c.pool.Query(ctx, "SELECT coalesce(run_id, 0), coalesce(node_id, ''), problem, category FROM flow.check($1) ORDER BY 1, 2, 3", arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Problem, error) {
		var p Problem
		err := row.Scan(&p.RunID, &p.NodeID, &p.Problem, &p.Category)
		return p, err
	})
}
