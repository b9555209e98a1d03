package flow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/pgbouncer"
	"github.com/htdag/htdag/jobs"
)

// pooledSetup is a database behind PgBouncer in transaction mode, and
// workers set up as `worker run --direct-database-url` sets them up: their
// pools (and the test's) go through the pooler, in a query mode without
// named prepared statements, and each worker's River LISTEN and liveness
// lock share one direct session.
type pooledSetup struct {
	*testBundle
	db *pgbouncer.Database
}

func newPooledSetup(t *testing.T) *pooledSetup {
	t.Helper()
	db := pgbouncer.NewDatabase(t, pgbouncer.DatabaseOptions{Bouncer: pgbouncer.Options{PoolSize: 6}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	s := &pooledSetup{db: db, testBundle: &testBundle{ctx: ctx}}
	s.pool = s.pooledPool(t, 6)
	s.flow = flow.NewClient(s.pool, &flow.Config{ListenConnConfig: db.DirectConnConfig()})
	return s
}

func (s *pooledSetup) pooledPool(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	return s.newPoolFromConfig(t, s.db.PooledConfig(maxConns))
}

// startWorker starts a worker on its own pooled pool and direct session. Its
// producers poll once a minute: within a test's time, only a NOTIFY wakes
// them.
func (s *pooledSetup) startWorker(t *testing.T, workers *river.Workers, queues map[string]river.QueueConfig) (*river.Config, *flow.DirectSession) {
	t.Helper()
	pool := s.pooledPool(t, 5)
	session := flow.NewDirectSession(s.db.DirectConnConfig())
	// Registered first, so it runs last: after River stopped and the
	// membership left.
	t.Cleanup(func() { require.NoError(t, session.Close(context.Background())) })
	config := flowtest.RiverConfig(pool, workers)
	config.Queues = queues
	config.FetchPollInterval = time.Minute
	flowtest.StartRiverWithFleet(t, pool, config, &flow.FleetConfig{
		Session:        session,
		OnDeclaredDead: func() { t.Errorf("a worker of the test was declared dead") },
	})
	return config, session
}

// Through PgBouncer in transaction mode the whole engine behaves as it does
// directly: releases, completions with InTx, wake-ups by NOTIFY (producers
// that poll once a minute finish a 40-step chain in seconds), cancel
// (River's control message reaches the running node), retry, hierarchy, and
// the rescue of a dead worker's node; and each worker holds one direct
// connection, whose backend holds its liveness lock.
func TestEngineThroughPgBouncer(t *testing.T) {
	t.Parallel()
	s := newPooledSetup(t)
	_, err := s.pool.Exec(s.ctx, intxLogDDL)
	require.NoError(t, err)
	tw := newTestWorkers()
	config, _ := s.startWorker(t, newRiverWorkers(tw), map[string]river.QueueConfig{river.QueueDefault: riverQueue(50)})
	fleet := flow.MiddlewareOf(config).Fleet()
	require.NotNil(t, fleet)

	t.Run("OneDirectConnectionHoldsTheLock", func(t *testing.T) {
		direct, err := pgx.Connect(s.ctx, s.db.DirectURL())
		require.NoError(t, err)
		defer direct.Close(s.ctx)
		var sessions []int
		require.Eventually(t, func() bool {
			rows, err := direct.Query(s.ctx, `SELECT pid FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = $1`, fleet.ApplicationName()+" session")
			require.NoError(t, err)
			sessions, err = pgx.CollectRows(rows, pgx.RowTo[int])
			require.NoError(t, err)
			return len(sessions) == 1
		}, 10*time.Second, 10*time.Millisecond, "one session backend")
		require.Equal(t, sessions[0], livenessLockHolder(t, s.ctx, direct, fleet.ID()))
	})

	t.Run("ReleasesAndInTx", func(t *testing.T) {
		runID := s.startSQL(t, `{"nodes": [
			{"id": "a", "kind": "intx"},
			{"id": "b", "kind": "intx", "deps": ["a"]},
			{"id": "c", "kind": "intx", "deps": ["a"]},
			{"id": "d", "kind": "intx", "deps": ["b", "c"]}]}`)
		run := s.wait(t, runID)
		require.Equal(t, flow.RunStateCompleted, run.State)
		var nodes []string
		rows, err := s.pool.Query(s.ctx, `SELECT l.node FROM intx_log l JOIN flow.node n ON n.job_id = l.job_id
			WHERE n.run_id = $1 ORDER BY l.node`, runID)
		require.NoError(t, err)
		nodes, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "c", "d"}, nodes, "each node's InTx write committed once")
		flowtest.RequireInvariants(s.ctx, t, s.pool, runID)
	})

	t.Run("WakeUpsByNotify", func(t *testing.T) {
		runID := s.startChain(t, 40)
		// A lost wake-up costs a minute; forty steps must take seconds.
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		run, err := s.flow.Wait(ctx, runID)
		require.NoError(t, err, "a step waited for the poll: a wake-up by NOTIFY was lost")
		require.Equal(t, flow.RunStateCompleted, run.State)
		flowtest.RequireInvariants(s.ctx, t, s.pool, runID)
	})

	t.Run("Cancel", func(t *testing.T) {
		w := flow.New("cancel me")
		g := w.Add("g", gateArgs{})
		w.Add("after", jobs.NoopArgs{}, flow.After(g))
		runID, err := s.flow.Start(s.ctx, w)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, 20*time.Second, 5*time.Millisecond)
		cancelled, err := s.flow.Cancel(s.ctx, runID)
		require.NoError(t, err)
		require.True(t, cancelled)
		// The gate never opens: only River's control message, heard on the
		// session, ends the running node.
		run := s.wait(t, runID)
		require.Equal(t, flow.RunStateCancelled, run.State)
		require.Equal(t, map[string]string{"g": "cancelled", "after": "cancelled"}, s.states(t, runID))
		flowtest.RequireInvariants(s.ctx, t, s.pool, runID)
	})

	t.Run("Retry", func(t *testing.T) {
		runID := s.startSQL(t, `{"nodes": [
			{"id": "a", "kind": "noop"},
			{"id": "x", "kind": "fail", "args": {"times": 1000}, "max_attempts": 1, "deps": ["a"]},
			{"id": "z", "kind": "noop", "deps": ["x"]}]}`)
		run := s.wait(t, runID)
		require.Equal(t, flow.RunStateFailed, run.State)
		require.Equal(t, map[string]string{"a": "completed", "x": "discarded", "z": "cancelled"}, s.states(t, runID))
		_, err := s.pool.Exec(s.ctx, `UPDATE river_job SET args = '{"times": 0}' WHERE id = $1`, s.jobID(t, runID, "x"))
		require.NoError(t, err)
		reset, err := s.flow.Retry(s.ctx, runID)
		require.NoError(t, err)
		require.Equal(t, 2, reset, "x and z")
		run = s.wait(t, runID)
		require.Equal(t, flow.RunStateCompleted, run.State)
		require.Equal(t, 1, s.nodes(t, runID)["a"].Attempt, "a did not run again")
		flowtest.RequireInvariants(s.ctx, t, s.pool, runID)
	})

	t.Run("Hierarchy", func(t *testing.T) {
		inner := flow.New("squares")
		gen := inner.Add("gen", rangeArgs{N: 20})
		m := inner.AddMap("m", gen, squareArgs{ExpandAt: intPtr(7)})
		inner.Output(inner.Add("total", totalArgs{}, flow.After(m)))
		top := flow.New("levels")
		sub := top.AddWorkflow("sub", inner)
		top.Add("check", jobs.EchoArgs{}, flow.After(sub))
		runID, err := s.flow.Start(s.ctx, top)
		require.NoError(t, err)
		run := s.wait(t, runID)
		require.Equal(t, flow.RunStateCompleted, run.State)
		sum := 0
		for i := range 20 {
			sum += i * i
		}
		tree := s.treeByPath(t, runID)
		require.JSONEq(t, fmt.Sprintf(`{"sum": %d}`, sum), string(tree["sub"].Output))
		require.JSONEq(t, `49`, string(tree["sub/m/7/inner"].Output))
		flowtest.RequireTreeInvariants(s.ctx, t, s.pool, runID)
	})

	t.Run("Rescue", func(t *testing.T) {
		lost := &lostOnceWorker{release: make(chan struct{})}
		rescueWorkers := func() *river.Workers {
			workers := river.NewWorkers()
			river.AddWorker(workers, lost)
			return workers
		}
		queues := map[string]river.QueueConfig{"rescue": riverQueue(1)}
		configA, _ := s.startWorker(t, rescueWorkers(), queues)
		fleetA := flow.MiddlewareOf(configA).Fleet()
		runID := s.startSQL(t, `{"nodes": [{"id": "x", "kind": "lost_once", "queue": "rescue"}]}`)
		require.Eventually(t, func() bool {
			n := s.nodes(t, runID)["x"]
			return n.State == "running" && n.Attempt == 1
		}, 20*time.Second, 5*time.Millisecond, "A works attempt 1")

		flow.Kill(fleetA)
		s.startWorker(t, rescueWorkers(), queues)
		run := s.wait(t, runID)
		require.Equal(t, flow.RunStateCompleted, run.State)
		x := s.nodes(t, runID)["x"]
		require.Equal(t, 2, x.Attempt)
		require.Contains(t, x.LastError, fmt.Sprintf("htdag: worker %d (", fleetA.ID()))
		lost.release <- struct{}{} // A's late attempt returns; its completion is refused
		require.Eventually(t, func() bool { return flow.MiddlewareOf(configA).Stats().Failures == 1 },
			20*time.Second, 5*time.Millisecond)
		flowtest.RequireInvariants(s.ctx, t, s.pool, runID)
	})
}

// A worker whose session goes through the transaction-mode pooler refuses to
// join the fleet, saying why: its LISTEN would hear nothing and its liveness
// lock would stay on a server connection other clients are lent.
func TestJoinFleetRefusesAPooledSession(t *testing.T) {
	t.Parallel()
	s := newPooledSetup(t)
	pooledConnConfig := s.db.PooledConfig(1).ConnConfig
	config := flowtest.RiverConfig(s.pool, nil)
	for name, cfg := range map[string]*flow.FleetConfig{
		"Session":            {Session: flow.NewDirectSession(pooledConnConfig), DirectCheckTimeout: time.Second},
		"LivenessConnConfig": {LivenessConnConfig: pooledConnConfig, DirectCheckTimeout: time.Second},
		"PoolsConfig":        {DirectCheckTimeout: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			fleet, err := flow.JoinFleet(s.ctx, s.pool, config, cfg)
			require.Nil(t, fleet)
			require.True(t, errors.Is(err, flow.ErrSessionNotDirect), "%v", err)
			require.ErrorContains(t, err, "transaction-mode pooler")
		})
	}
	var workers int
	require.NoError(t, s.pool.QueryRow(s.ctx, "SELECT count(*) FROM flow.worker").Scan(&workers))
	require.Zero(t, workers, "nothing registered")
}

// A Client whose pool goes through a transaction-mode pooler and that has no
// ListenConnConfig cannot LISTEN (the pooler hands its LISTEN's server
// connection to others); Wait finds that out and reads its runs once a
// second instead, so it still returns when a run finishes after it began
// (`worker wait` with only a pooled --database-url once hung forever).
func TestWaitThroughAPoolerWithoutADirectConnection(t *testing.T) {
	t.Parallel()
	s := newPooledSetup(t)
	client := flow.NewClient(s.pool, nil)
	runID := s.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`)

	waited := make(chan *flow.Run, 1)
	go func() {
		run, err := client.Wait(s.ctx, runID)
		assert.NoError(t, err)
		waited <- run
	}()
	// The wait's backlog read saw the run unfinished and its LISTEN was
	// found deaf: only a later read can see the run finish.
	require.Eventually(t, func() bool { return flow.WaitPolls(client) }, 20*time.Second, 10*time.Millisecond,
		"the wait did not find out that its LISTEN does not hear")
	s.complete(t, runID, "a")
	select {
	case run := <-waited:
		require.Equal(t, flow.RunStateCompleted, run.State)
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return after the run completed")
	}
}
