package flow

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDeleteBatch is how many runs [Client.DeleteFinishedRuns] deletes
// per statement when given a batch below 1.
const DefaultDeleteBatch = 100

// DeleteFinishedRuns deletes, whole (jobs, nodes, run rows, child runs), the
// top runs whose trees finished more than olderThan ago, batch runs per
// transaction ([DefaultDeleteBatch] when batch < 1) until none is left, and
// returns how many it deleted. Runs another caller is deleting are skipped,
// not waited for, so several workers may call it at once. It wraps
// flow.delete_finished_runs; `worker run --run-retention` calls it every
// minute.
func (c *Client) DeleteFinishedRuns(ctx context.Context, olderThan time.Duration, batch int) (int, error) {
	return deleteFinishedRuns(ctx, c.pool, olderThan, batch)
}

// DeleteFinishedRunsTx is [Client.DeleteFinishedRuns] inside tx: every batch
// runs in tx, so the runs are gone only if tx commits (and stay locked until
// it ends). After an error, roll tx back.
func (c *Client) DeleteFinishedRunsTx(ctx context.Context, tx pgx.Tx, olderThan time.Duration, batch int) (int, error) {
	return deleteFinishedRuns(ctx, tx, olderThan, batch)
}

func deleteFinishedRuns(ctx context.Context, q querier, olderThan time.Duration, batch int) (int, error) {
	if batch < 1 {
		batch = DefaultDeleteBatch
	}
	total := 0
	for {
		var n int
		if err := q.QueryRow(ctx, "SELECT flow.delete_finished_runs($1, $2)", olderThan, batch).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}
