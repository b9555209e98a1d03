package flow

import (
	"context"
	"time"
)

// DeleteFinishedRuns deletes, whole (jobs, nodes, run rows), the runs that
// finished more than olderThan ago, batch runs per transaction until none is
// left. It returns how many it deleted. It wraps flow.delete_finished_runs;
// `worker run --run-retention` calls it every minute.
func (c *Client) DeleteFinishedRuns(ctx context.Context, olderThan time.Duration, batch int) (int, error) {
	if batch < 1 {
		batch = 100
	}
	total := 0
	for {
		var n int
		if err := c.pool.QueryRow(ctx, "SELECT flow.delete_finished_runs($1, $2)", olderThan, batch).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}
