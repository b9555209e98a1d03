package flow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// RunFinishedChannel is the channel on which the database announces every
// finished run, with payload {"run_id": N, "state": "completed"|"failed"|"cancelled"}.
const RunFinishedChannel = "flow_run_finished"

// Wait blocks until the run has finished, then returns it (state and output).
// It LISTENs on [RunFinishedChannel] through pgxlisten and reads the run once
// the listen is in place, so a run that finished before the call returns at
// once. It returns ctx's error when ctx ends first.
func (c *Client) Wait(ctx context.Context, runID int64) (*Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	found := make(chan *Run, 1)
	failed := make(chan error, 1)
	h := &waitHandler{runID: runID, found: found, failed: failed}
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			conn, err := c.pool.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			return conn.Hijack(), nil
		},
		ReconnectDelay: 500e6, // 0.5 s
	}
	listener.Handle(RunFinishedChannel, h)
	go func() { _ = listener.Listen(ctx) }()

	select {
	case r := <-found:
		return r, nil
	case err := <-failed:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type waitHandler struct {
	runID  int64
	found  chan<- *Run
	failed chan<- error
}

// HandleBacklog runs after every (re)LISTEN: a run that finished while nobody
// listened is found here.
func (h *waitHandler) HandleBacklog(ctx context.Context, _ string, conn *pgx.Conn) error {
	return h.check(ctx, conn)
}

func (h *waitHandler) HandleNotification(ctx context.Context, n *pgconn.Notification, conn *pgx.Conn) error {
	var msg struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(n.Payload), &msg); err != nil || msg.RunID != h.runID {
		return nil //nolint:nilerr // another run's notification, or not ours to read
	}
	return h.check(ctx, conn)
}

// check reads the run and delivers it once finished. Any error ends the
// Wait: pgxlisten would only log it and Wait would hang until ctx ends.
func (h *waitHandler) check(ctx context.Context, conn *pgx.Conn) error {
	run, err := getRun(ctx, conn, h.runID)
	if err != nil {
		select {
		case h.failed <- fmt.Errorf("run %d: %w", h.runID, err):
		default:
		}
		return nil
	}
	if run.State.Finished() {
		select {
		case h.found <- run:
		default:
		}
	}
	return nil
}
