package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Cancel cancels every node of the run, and of every run below it, that has
// not finished: pending, available, scheduled and retryable nodes at once,
// running ones through River's cancel (their work context is cancelled).
// The run ends cancelled once nothing is running; [Client.Wait] for it.
// Cancel reports false, and changes nothing, for a run that had already
// finished, and returns [ErrRunNotFound] for an unknown run. It wraps
// flow.cancel.
func (c *Client) Cancel(ctx context.Context, runID int64) (bool, error) {
	return cancelRun(ctx, c.pool, runID)
}

// CancelTx is [Client.Cancel] inside tx: nothing is cancelled, and no
// running node is told to stop, unless tx commits. After an error, roll tx
// back.
func (c *Client) CancelTx(ctx context.Context, tx pgx.Tx, runID int64) (bool, error) {
	return cancelRun(ctx, tx, runID)
}

func cancelRun(ctx context.Context, q querier, runID int64) (bool, error) {
	var cancelled bool
	err := q.QueryRow(ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled)
	return cancelled, runNotFound(err, runID)
}

// Retry resumes a failed or cancelled top run from its failure frontier, at
// every level of its tree: completed nodes keep their outputs and do not run
// again; discarded nodes (with a fresh attempt budget) and cancelled ones go
// back to pending and run as soon as their parents have completed. It
// returns how many nodes were reset: 0, with nothing changed, for a run that
// is pending, running (one already retried, say) or completed. It returns
// [ErrRunNotFound] for an unknown run, and refuses a child run (retry its
// top run). It wraps flow.retry.
func (c *Client) Retry(ctx context.Context, runID int64) (int, error) {
	return retryRun(ctx, c.pool, runID)
}

// RetryTx is [Client.Retry] inside tx: the nodes are reset, and released to
// the workers, only if tx commits. After an error, roll tx back.
func (c *Client) RetryTx(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
	return retryRun(ctx, tx, runID)
}

func retryRun(ctx context.Context, q querier, runID int64) (int, error) {
	var reset int
	err := q.QueryRow(ctx, "SELECT flow.retry($1)", runID).Scan(&reset)
	return reset, runNotFound(err, runID)
}

// runNotFound turns the no_data_found (P0002) that flow.cancel and
// flow.retry raise for an unknown run into ErrRunNotFound.
func runNotFound(err error, runID int64) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "P0002" {
		return fmt.Errorf("run %d: %w", runID, ErrRunNotFound)
	}
	return err
}
