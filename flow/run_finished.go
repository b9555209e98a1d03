package flow

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
)

// RunFinished is one notification on [RunFinishedChannel].
type RunFinished struct {
	RunID int64    `json:"run_id"`
	State RunState `json:"state"`
}

// ListenRunsFinished calls fn for each run of the database that finishes
// while it listens, until ctx ends, on one LISTEN connection taken from pool
// (which must reach PostgreSQL directly) and taken again after a loss, a
// second later. fn runs on the listening goroutine, one call at a time;
// runs that finish while the connection is down are not told. Connection
// errors go to logErr when not nil. It returns when ctx ends.
func ListenRunsFinished(ctx context.Context, pool *pgxpool.Pool, fn func(context.Context, RunFinished), logErr func(error)) {
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			c, err := pool.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			return c.Hijack(), nil
		},
		ReconnectDelay: time.Second,
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil && logErr != nil {
				logErr(err)
			}
		},
	}
	l.Handle(RunFinishedChannel, pgxlisten.HandlerFunc(func(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
		var f RunFinished
		if json.Unmarshal([]byte(n.Payload), &f) == nil && f.RunID != 0 {
			fn(ctx, f)
		}
		return nil
	}))
	_ = l.Listen(ctx)
}
