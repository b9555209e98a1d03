package flowhttp

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"

	"github.com/htdag/htdag/flow"
)

// listenRunsFinished counts flow_run_finished notifications by state until
// ctx ends, on one connection taken from pool (reconnecting after a loss).
func (m *Metrics) listenRunsFinished(ctx context.Context, pool *pgxpool.Pool) {
	for _, s := range []flow.RunState{flow.RunStateCompleted, flow.RunStateFailed, flow.RunStateCancelled} {
		m.runsFinished.WithLabelValues(string(s)) // shown at 0 from the start
	}
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
			if ctx.Err() == nil {
				m.log.Debug("htdag: metrics: LISTEN flow_run_finished", "error", err)
			}
		},
	}
	l.Handle(flow.RunFinishedChannel, pgxlisten.HandlerFunc(func(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
		var p struct {
			State string `json:"state"`
		}
		if json.Unmarshal([]byte(n.Payload), &p) == nil && p.State != "" {
			m.runsFinished.WithLabelValues(p.State).Inc()
		}
		return nil
	}))
	_ = l.Listen(ctx)
}
