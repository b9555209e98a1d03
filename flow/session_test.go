package flow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// startChain starts a chain of n noop nodes.
func (b *testBundle) startChain(t *testing.T, n int) int64 {
	t.Helper()
	w := flow.New("chain")
	var prev *flow.Node
	for i := range n {
		var opts []flow.NodeOption
		if prev != nil {
			opts = append(opts, flow.After(prev))
		}
		prev = w.Add(fmt.Sprintf("n%02d", i), jobs.NoopArgs{}, opts...)
	}
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	return runID
}

// requireFinishesWithin waits for the run, failing the test if it takes
// longer than d.
func (b *testBundle) requireFinishesWithin(t *testing.T, runID int64, d time.Duration, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	run, err := b.flow.Wait(ctx, runID)
	require.NoError(t, err, msg)
	require.Equal(t, flow.RunStateCompleted, run.State)
}

// livenessLockHolder is the backend holding worker id's liveness lock in
// this database (0: none).
func livenessLockHolder(t *testing.T, ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, id int64,
) int {
	t.Helper()
	var pid int
	require.NoError(t, q.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = 1752458343 AND objid = $1 AND objsubid = 2 AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, id).Scan(&pid))
	return pid
}

// A worker's one direct session carries River's LISTEN and the liveness
// lock. When its connection is cut, both come back on a new one: the
// heartbeat takes the lock again, River listens again, and wake-ups by
// NOTIFY go on (the producers poll once a minute, so a lost wake-up shows).
func TestDirectSessionSurvivesItsConnectionLoss(t *testing.T) {
	t.Parallel()
	b := setup(t)
	session := flow.NewDirectSession(b.pool.Config().ConnConfig)
	t.Cleanup(func() { require.NoError(t, session.Close(context.Background())) })
	config := riverConfig(b.pool, newTestWorkers())
	config.FetchPollInterval = time.Minute
	flowtest.StartRiverWithFleet(t, b.pool, config, &flow.FleetConfig{
		Session:        session,
		OnDeclaredDead: func() { t.Errorf("the worker was declared dead") },
	})
	fleet := flow.MiddlewareOf(config).Fleet()
	b.requireFinishesWithin(t, b.startChain(t, 20), 20*time.Second, "a wake-up by NOTIFY was lost")

	lockHolder := func() int { return livenessLockHolder(t, b.ctx, b.pool, fleet.ID()) }
	before := lockHolder()
	var appName string
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = $1", before).Scan(&appName))
	require.Equal(t, fleet.ApplicationName()+" session", appName, "the lock is held on the session")

	var cut bool
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT pg_terminate_backend($1)", before).Scan(&cut))
	require.True(t, cut)
	require.Eventually(t, func() bool { pid := lockHolder(); return pid != 0 && pid != before },
		15*time.Second, 10*time.Millisecond, "the heartbeat takes the lock again on a new connection")

	// River listens again once it saw the loss: a one-node run then
	// finishes at once.
	require.Eventually(t, func() bool {
		runID := b.startSQL(t, `{"nodes": [{"id": "probe", "kind": "noop"}]}`)
		ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
		defer cancel()
		_, err := b.flow.Wait(ctx, runID)
		return err == nil
	}, 20*time.Second, time.Millisecond, "River listens again")
	b.requireFinishesWithin(t, b.startChain(t, 20), 20*time.Second, "a wake-up by NOTIFY was lost after the reconnect")
	var workerState string
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT state FROM flow.workers WHERE id = $1", fleet.ID()).Scan(&workerState))
	require.Equal(t, "alive", workerState)
}
