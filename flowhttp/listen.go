package flowhttp

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/htdag/htdag/flow"
)

// listenRunsFinished counts finished runs by state until ctx ends.
func (m *Metrics) listenRunsFinished(ctx context.Context, pool *pgxpool.Pool) {
	for _, s := range []flow.RunState{flow.RunStateCompleted, flow.RunStateFailed, flow.RunStateCancelled} {
		m.runsFinished.WithLabelValues(string(s)) // shown at 0 from the start
	}
	flow.ListenRunsFinished(ctx, pool, func(_ context.Context, f flow.RunFinished) {
		m.runsFinished.WithLabelValues(string(f.State)).Inc()
	}, func(err error) { m.log.Debug("htdag: metrics: LISTEN flow_run_finished", "error", err) })
}
