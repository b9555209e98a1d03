package flow

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Problem is one row of flow.check: something about a run that breaks the
// engine's invariants (counts that disagree with the jobs, a stuck run, a
// lost release). NodeID is empty for a problem of the run as a whole.
type Problem struct {
	// RunID is the run with the problem.
	RunID int64 `json:"run_id"`
	// NodeID is the node with the problem ("" for the run as a whole).
	NodeID string `json:"node_id,omitempty"`
	// Problem says what is wrong.
	Problem string `json:"problem"`
}

// Check runs flow.check for one run (runID > 0, any state) or, with runID 0,
// for every unfinished run. A healthy database has no problems.
func (c *Client) Check(ctx context.Context, runID int64) ([]Problem, error) {
	var arg *int64
	if runID > 0 {
		arg = &runID
	}
	rows, err := c.pool.Query(ctx, "SELECT run_id, coalesce(node_id, ''), problem FROM flow.check($1) ORDER BY 1, 2", arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Problem, error) {
		var p Problem
		err := row.Scan(&p.RunID, &p.NodeID, &p.Problem)
		return p, err
	})
}
