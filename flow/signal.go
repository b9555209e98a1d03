package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// NotWaitingError reports a signal to a node that does not wait for one
// (SQLSTATE 55000 from flow.signal). Nothing was changed.
type NotWaitingError struct {
	// RunID and NodeID name the node signalled.
	RunID  int64
	NodeID string
	// Reason says why it does not wait: "the run has no such node", "it is
	// not a wait node (...)", "it does not wait yet: ...", "it was already
	// signalled, at ...", "its timeout (N ms) fired ...", "it was
	// cancelled", the last ones prefixed by "the run has finished (STATE)
	// and " when it has.
	Reason string
}

func (e *NotWaitingError) Error() string {
	return fmt.Sprintf("htdag: cannot signal node %q of run %d: %s", e.NodeID, e.RunID, e.Reason)
}

// Signal completes a wait node that waits for a signal (see [AddWait]), with
// payload (encoded as JSON; nil is JSON null) as its output: its children
// read it in their inputs, and are released in the same transaction. It
// returns a *[NotWaitingError] saying why when the node does not wait (no
// such node, not a wait node, parents not finished yet, already signalled,
// timed out, cancelled), and [ErrRunNotFound] for a run that does not exist
// or that the caller may not see. It wraps flow.signal.
func (c *Client) Signal(ctx context.Context, runID int64, nodeID string, payload any) error {
	return signalNode(ctx, c.pool, runID, nodeID, payload)
}

// SignalTx is [Client.Signal] inside tx: the node completes, and its
// children are released, only if tx commits; rolled back, the node still
// waits. After an error, roll tx back.
func (c *Client) SignalTx(ctx context.Context, tx pgx.Tx, runID int64, nodeID string, payload any) error {
	return signalNode(ctx, tx, runID, nodeID, payload)
}

func signalNode(ctx context.Context, q querier, runID int64, nodeID string, payload any) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("htdag: encoding the payload of a signal to node %q of run %d: %w", nodeID, runID, err)
	}
	rows, err := q.Query(ctx, "SELECT flow.signal($1, $2, $3::jsonb)", runID, nodeID, string(raw))
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55000" {
		prefix := fmt.Sprintf("htdag: cannot signal node %q of run %d: ", nodeID, runID)
		if strings.HasPrefix(pgErr.Message, prefix) {
			return &NotWaitingError{RunID: runID, NodeID: nodeID, Reason: strings.TrimPrefix(pgErr.Message, prefix)}
		}
	}
	return runNotFound(err, runID)
}
