package flow

import (
	"context"
	"fmt"
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
	return deleteInBatches(ctx, batch, func(batch int) (int, error) {
		var n int
		err := q.QueryRow(ctx, "SELECT flow.delete_finished_runs($1, $2)", olderThan, batch).Scan(&n)
		return n, err
	})
}

// Retention says how long finished trees of runs are kept, by the state
// their top run ended in. Zero keeps them forever.
type Retention struct {
	// Completed is how long a tree whose top run completed is kept after it
	// finished.
	Completed time.Duration
	// Failed is how long a tree whose top run failed or was cancelled is
	// kept after it finished: failures are what people come back to read,
	// so it is usually longer.
	Failed time.Duration
}

// DeleteFinishedRunsByState is [Client.DeleteFinishedRuns] with an age per
// state (see [Retention]): it wraps flow.delete_finished_runs_by_state.
// `worker run --run-retention --run-retention-failed` calls it every minute.
func (c *Client) DeleteFinishedRunsByState(ctx context.Context, keep Retention, batch int) (int, error) {
	return deleteFinishedRunsByState(ctx, c.pool, keep, batch)
}

// DeleteFinishedRunsByStateTx is [Client.DeleteFinishedRunsByState] inside
// tx. After an error, roll tx back.
func (c *Client) DeleteFinishedRunsByStateTx(ctx context.Context, tx pgx.Tx, keep Retention, batch int) (int, error) {
	return deleteFinishedRunsByState(ctx, tx, keep, batch)
}

func deleteFinishedRunsByState(ctx context.Context, q querier, keep Retention, batch int) (int, error) {
	if keep.Completed < 0 || keep.Failed < 0 {
		return 0, fmt.Errorf("htdag: retention must not be negative (completed %s, failed %s)", keep.Completed, keep.Failed)
	}
	if keep.Completed == 0 && keep.Failed == 0 {
		return 0, nil
	}
	// A NULL age keeps those trees.
	age := func(d time.Duration) *time.Duration {
		if d == 0 {
			return nil
		}
		return &d
	}
	return deleteInBatches(ctx, batch, func(batch int) (int, error) {
		var n int
		err := q.QueryRow(ctx, "SELECT flow.delete_finished_runs_by_state($1, $2, $3)", age(keep.Completed), age(keep.Failed), batch).Scan(&n)
		return n, err
	})
}

// deleteInBatches calls one until a batch comes back short, and adds up.
func deleteInBatches(ctx context.Context, batch int, one func(batch int) (int, error)) (int, error) {
	if batch < 1 {
		batch = DefaultDeleteBatch
	}
	total := 0
	for {
		n, err := one(batch)
		if err != nil {
			return total, err
		}
		total += n
		if n < batch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// JobRetention is how long finished plain River jobs (not flow nodes) are
// kept, by state; a negative period keeps them. The zero value takes River's
// own defaults ([DefaultJobRetention]).
type JobRetention struct {
	Completed, Cancelled, Discarded time.Duration
}

// DefaultJobRetention is River's retention: completed and cancelled jobs for
// 24 hours, discarded ones for 7 days.
var DefaultJobRetention = JobRetention{Completed: 24 * time.Hour, Cancelled: 24 * time.Hour, Discarded: 7 * 24 * time.Hour}

// DefaultJobDeleteBatch is how many jobs [Client.DeleteFinishedJobs] deletes
// per statement when given a batch below 1.
const DefaultJobDeleteBatch = 1000

// DeleteFinishedJobs deletes finished plain River jobs (not flow nodes, which
// go with their runs) older than r's period for their state, batch at a time
// ([DefaultJobDeleteBatch] when batch < 1), until none is left, and returns
// how many. [RiverConfig] turns River's own cleaner off, because it works
// through finished jobs in id order and ends a pass at a short batch: flow
// jobs kept for their runs stopped it cleaning the jobs behind them. `worker
// run` calls this every minute with [DefaultJobRetention]. It wraps
// flow.delete_finished_jobs.
func (c *Client) DeleteFinishedJobs(ctx context.Context, r JobRetention, batch int) (int, error) {
	if r == (JobRetention{}) {
		r = DefaultJobRetention
	}
	if batch < 1 {
		batch = DefaultJobDeleteBatch
	}
	period := func(d time.Duration) *time.Duration {
		if d < 0 {
			return nil // NULL: keep
		}
		return &d
	}
	total := 0
	for {
		var n int
		if err := c.pool.QueryRow(ctx, "SELECT flow.delete_finished_jobs($1, $2, $3, $4)",
			period(r.Completed), period(r.Cancelled), period(r.Discarded), batch).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}
