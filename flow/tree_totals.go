package flow

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TreeTotals counts a top run's tree: the run itself and every run below it
// (its sub-workflows', maps' and expansions' child runs, at any depth).
type TreeTotals struct {
	Runs       int `json:"runs"`       // the top run and its child runs
	Nodes      int `json:"nodes"`      // their nodes
	Unfinished int `json:"unfinished"` // nodes not completed, cancelled or discarded
	Failed     int `json:"failed"`     // nodes cancelled or discarded
}

// treeTotalsSQL sums each top run's counters and those of the runs below it,
// found through the index on root_run_id: one query for a whole list.
const treeTotalsSQL = `
SELECT r.id, r.parent_run_id IS NOT NULL,
       1 + count(c.id)::integer,
       r.node_count + coalesce(sum(c.node_count), 0)::integer,
       r.unfinished + coalesce(sum(c.unfinished), 0)::integer,
       r.failed + coalesce(sum(c.failed), 0)::integer
  FROM flow.run r
  LEFT JOIN flow.run c ON c.root_run_id = r.id
 WHERE r.id = ANY ($1)
 GROUP BY r.id`

// TreeTotals returns the totals of the trees of the given top runs (such as
// [Client.ListRuns] returns), by run id, read in one query. A run that does
// not exist (any more: retention may delete it) has no entry. The id of a
// child run is an error: its tree is counted from its top run
// ([Run.TopRunID]).
func (c *Client) TreeTotals(ctx context.Context, topRunIDs []int64) (map[int64]TreeTotals, error) {
	totals := make(map[int64]TreeTotals, len(topRunIDs))
	if len(topRunIDs) == 0 {
		return totals, nil
	}
	rows, err := c.pool.Query(ctx, treeTotalsSQL, topRunIDs)
	if err != nil {
		return nil, err
	}
	var id int64
	var child bool
	var t TreeTotals
	_, err = pgx.ForEachRow(rows, []any{&id, &child, &t.Runs, &t.Nodes, &t.Unfinished, &t.Failed}, func() error {
		if child {
			return fmt.Errorf("run %d is a child run: TreeTotals counts the trees of top runs", id)
		}
		totals[id] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return totals, nil
}
