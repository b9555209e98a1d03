package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// Cancel cancels every node of the run that has not finished: pending,
// available, scheduled and retryable nodes at once, running ones through
// River's cancel (their work context is cancelled). The run ends cancelled
// once nothing is running; Wait for it. Cancel reports false, and changes
// nothing, for a run that had already finished. It wraps flow.cancel.
func (c *Client) Cancel(ctx context.Context, runID int64) (bool, error) {
	var cancelled bool
	err := c.pool.QueryRow(ctx, "SELECT flow.cancel($1)", runID).Scan(&cancelled)
	return cancelled, runNotFound(err, runID)
}

// Retry resumes a failed or cancelled run from its failure frontier:
// completed nodes keep their outputs and do not run again; discarded nodes
// (with a fresh attempt budget) and cancelled ones go back to pending and run
// as soon as their parents have completed. It returns how many nodes were
// reset: 0, with nothing changed, for a run that is pending, running (one
// already retried, say) or completed. It wraps flow.retry.
func (c *Client) Retry(ctx context.Context, runID int64) (int, error) {
	var reset int
	err := c.pool.QueryRow(ctx, "SELECT flow.retry($1)", runID).Scan(&reset)
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
