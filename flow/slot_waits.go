package flow

import (
	"context"
)

// SlotWaits counts, per concurrency key, the pending nodes of the given runs
// that wait for a slot of their key (flow.blocked's waiting_for_slot; README
// "Concurrency keys"). Keys no node of these runs waits for are absent.
func (c *Client) SlotWaits(ctx context.Context, runIDs []int64) (map[string]int, error) {
	rows, err := c.pool.Query(ctx, `
		SELECT waiting_for_slot, count(*)::int FROM flow.blocked
		 WHERE run_id = ANY ($1) AND waiting_for_slot IS NOT NULL
		 GROUP BY waiting_for_slot`, runIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var key string
		var n int
		if err := rows.Scan(&key, &n); err != nil {
			return nil, err
		}
		out[key] = n
	}
	return out, rows.Err()
}
