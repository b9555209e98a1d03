package flow_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/pgcluster"
	"github.com/htdag/htdag/jobs"
	"github.com/htdag/htdag/migrations"
)

// lostOnceArgs is a node whose first attempt blocks until the test releases
// it (its worker is about to be declared dead), and whose every attempt
// records an InTx effect (kind "lost_once").
type lostOnceArgs struct{}

func (lostOnceArgs) Kind() string { return "lost_once" }

type lostOnceWorker struct {
	river.WorkerDefaults[lostOnceArgs]
	release  chan struct{}
	returned atomic.Int64 // first attempts that returned
}

func (w *lostOnceWorker) Work(ctx context.Context, job *river.Job[lostOnceArgs]) error {
	if job.Attempt == 1 {
		<-w.release // a worker cut off from the database: its context lives on
		defer w.returned.Add(1)
	}
	return flow.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO intx_log (job_id, node, attempt) VALUES ($1, 'x', $2)", job.ID, job.Attempt)
		return err
	})
}

// A worker that stops proving it is alive (its liveness session gone, as
// when its process is killed) is declared dead by another worker, and its
// running node runs again there: the lost attempt is recorded as such and
// does not use up the node's budget. When the old attempt reports late, its
// completion and InTx writes are refused. The same with six more members,
// which take turns at the rescue (about two a tick), whichever is on duty.
func TestRescueHandsALostNodeToAnotherWorker(t *testing.T) {
	t.Parallel()
	for _, idle := range []int{0, 6} {
		t.Run(fmt.Sprintf("%d more members", idle), func(t *testing.T) {
			t.Parallel()
			testRescueHandsALostNodeToAnotherWorker(t, idle)
		})
	}
}

func testRescueHandsALostNodeToAnotherWorker(t *testing.T, idle int) {
	b := setup(t)
	for range idle {
		joinIdleMember(t, b, nil)
	}
	_, err := b.pool.Exec(b.ctx, intxLogDDL)
	require.NoError(t, err)
	lost := &lostOnceWorker{release: make(chan struct{})}
	t.Cleanup(func() { close(lost.release) })
	// Two worker processes: each its own pool and River client. One job
	// at a time: A, cut off, keeps its blocked attempt and fetches nothing
	// else (a killed process fetches nothing at all).
	startWorker := func() *river.Config {
		workers := river.NewWorkers()
		river.AddWorker(workers, lost)
		pool := b.newPool(t, 5)
		config := flowtest.RiverConfig(pool, workers)
		config.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}
		flowtest.StartRiver(t, pool, config)
		return config
	}

	configA := startWorker()
	fleetA := flow.MiddlewareOf(configA).Fleet()
	require.NotNil(t, fleetA, "flowtest.StartRiver joins the fleet")

	runID := b.startSQL(t, `{"nodes": [{"id": "x", "kind": "lost_once"}]}`)
	require.Eventually(t, func() bool {
		n := b.nodes(t, runID)["x"]
		return n.State == "running" && n.Attempt == 1
	}, testTimeout/2, 5*time.Millisecond, "A works attempt 1")

	flow.Kill(fleetA)
	configB := startWorker()
	fleetB := flow.MiddlewareOf(configB).Fleet()

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var (
		attempt, maxAttempts int
		errs                 []string
		attemptedBy          []string
	)
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT attempt, max_attempts, ARRAY(SELECT e ->> 'attempt' || ': ' || (e ->> 'error') FROM unnest(errors) e), attempted_by
		  FROM river_job WHERE id = $1`, b.nodes(t, runID)["x"].JobID).Scan(&attempt, &maxAttempts, &errs, &attemptedBy))
	require.Equal(t, 2, attempt)
	require.Equal(t, 26, maxAttempts, "the lost attempt is given back")
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], fmt.Sprintf("1: htdag: worker %d (", fleetA.ID()))
	require.Contains(t, errs[0], "died while running this attempt; it runs again")
	require.Equal(t, []string{fleetA.ClientID(), fleetB.ClientID()}, attemptedBy)

	var states map[string]string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"SELECT jsonb_object_agg(id, state) FROM flow.workers WHERE id IN ($1, $2)", fleetA.ID(), fleetB.ID()).Scan(&states))
	require.Equal(t, map[string]string{fmt.Sprint(fleetA.ID()): "dead", fmt.Sprint(fleetB.ID()): "alive"}, states)

	// A's first attempt finally returns: its completion is refused and its
	// InTx write never commits.
	lost.release <- struct{}{}
	require.Eventually(t, func() bool { return flow.MiddlewareOf(configA).Stats().Failures == 1 },
		testTimeout/2, 5*time.Millisecond, "A's late completion is refused")
	var effects []int
	rows, err := b.pool.Query(b.ctx, "SELECT attempt FROM intx_log ORDER BY attempt")
	require.NoError(t, err)
	effects, err = pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{2}, effects, "one effect, from the attempt that completed")
	require.Equal(t, "completed", b.nodes(t, runID)["x"].State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// joinIdleMember joins a fleet member that works no queue: it heartbeats
// and does its turns at the fleet's duties. It leaves when the test ends.
func joinIdleMember(t *testing.T, b *testBundle, cfg *flow.FleetConfig) *flow.Fleet {
	t.Helper()
	config := flow.RiverConfig(b.pool, nil)
	config.Queues = map[string]river.QueueConfig{}
	f, err := flow.JoinFleet(b.ctx, b.pool, config, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Leave(context.Background()) })
	return f
}

// Members take turns at the rescue: each tick of the rescue interval about
// two of eight look for dead workers (not all eight), every tick has one,
// and each member's turns are the ones its place in the roster gives it.
func TestFleetMembersTakeTurnsAtTheRescue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const members = 8
	cfg := &flow.FleetConfig{RescueInterval: 200 * time.Millisecond}
	fleets := make([]*flow.Fleet, members)
	for i := range fleets {
		fleets[i] = joinIdleMember(t, b, cfg)
	}
	require.Eventually(t, func() bool {
		for _, f := range fleets {
			if _, n := flow.DutyPlace(f); n != members {
				return false
			}
		}
		return true
	}, testTimeout/2, 10*time.Millisecond, "every member's heartbeat reads a roster of %d", members)

	var (
		mu    sync.Mutex
		turns = map[int64][]int64{} // tick -> members that did it
	)
	for _, f := range fleets {
		slot, n := flow.DutyPlace(f)
		flow.OnRescueTurn(f, func(tick int64) {
			mu.Lock()
			defer mu.Unlock()
			turns[tick] = append(turns[tick], f.ID())
			if !flow.OnDuty(tick, slot, n) {
				t.Errorf("member %d (slot %d of %d) did tick %d, not its turn", f.ID(), slot, n, tick)
			}
		})
	}
	const window = 30
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(turns) >= window+2
	}, testTimeout/2, 10*time.Millisecond, "%d ticks done", window+2)

	mu.Lock()
	defer mu.Unlock()
	ticks := slices.Sorted(maps.Keys(turns))
	// The first and last ticks seen may be partly outside the window.
	// Two members a tick (8 members, stride 4); a member slowed past its
	// turn leaves it to the other one.
	for n := ticks[0] + 1; n < ticks[len(ticks)-1]; n++ {
		require.NotEmpty(t, turns[n], "tick %d: no member looked for dead workers", n)
		require.LessOrEqual(t, len(turns[n]), 2, "tick %d: %v", n, turns[n])
	}
}

// A late write of a lost attempt (River recording its error after the node
// ran again) is skipped; a write of the running attempt is not.
func TestStaleAttemptWriteIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "x", "kind": "noop"}]}`)
	jobID := b.nodes(t, runID)["x"].JobID
	// Attempt 2 runs (attempt 1 was lost to a dead worker).
	_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'running', attempt = 2, attempted_at = now(), max_attempts = 26 WHERE id = $1`, jobID)
	require.NoError(t, err)

	lateWrite := func(attempt int) {
		t.Helper()
		_, err := b.pool.Exec(b.ctx, `
			UPDATE river_job SET state = 'retryable', scheduled_at = now() + interval '1 second',
			       errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', $2::int, 'error', 'boom', 'trace', ''))
			 WHERE id = $1 AND state = 'running'`, jobID, attempt)
		require.NoError(t, err)
	}
	lateWrite(1)
	n := b.nodes(t, runID)["x"]
	require.Equal(t, "running", n.State, "attempt 1's error does not touch attempt 2")
	require.Equal(t, 0, n.Errors)

	lateWrite(2)
	n = b.nodes(t, runID)["x"]
	require.Equal(t, "retryable", n.State)
	require.Equal(t, 1, n.Errors)
}

// A node's timeout_ms may be longer than the default bound on attempts, and
// a node without one gets the default.
func TestNodeTimeoutLongerThanTheJobTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	config := riverConfig(b.pool, newTestWorkers())
	flow.MiddlewareOf(config).JobTimeout = 300 * time.Millisecond
	require.EqualValues(t, -1, config.JobTimeout, "River's own timeout is off: it would bound every node")
	flowtest.StartRiver(t, b.pool, config)

	runID := b.startSQL(t, `{"nodes": [
		{"id": "long", "kind": "sleep", "args": {"ms": 800}, "timeout_ms": 5000},
		{"id": "short", "kind": "sleep", "args": {"ms": 800}, "max_attempts": 1}]}`)
	b.wait(t, runID)
	nodes := b.nodes(t, runID)
	require.Equal(t, "completed", nodes["long"].State)
	require.Equal(t, "discarded", nodes["short"].State)
	require.Contains(t, nodes["short"].LastError, `node "short" exceeded its timeout of 300 ms`)
}

// A completion whose connection was cut by a PostgreSQL restart is tried
// again on a new connection: the node completes with the attempt it ran, and
// the worker is not declared dead (it reconnects within the grace).
func TestCompletionSurvivesAPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cluster := pgcluster.Start(t, pgcluster.Options{})
	pool := flowtest.PoolOn(t, cluster.URL(""))
	_, err := migrations.Up(ctx, pool, nil)
	require.NoError(t, err)

	tw := newTestWorkers()
	config := riverConfig(pool, tw)
	var declaredDead atomic.Bool
	flowtest.StartRiverWithFleet(t, pool, config, &flow.FleetConfig{OnDeclaredDead: func() { declaredDead.Store(true) }})
	client := flow.NewClient(pool, nil)
	runID, err := client.Start(ctx, flow.JSONSpec(`{"nodes": [{"id": "g", "kind": "gate"}, {"id": "after", "kind": "noop", "deps": ["g"]}]}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, testTimeout/2, 5*time.Millisecond)

	require.NoError(t, cluster.Restart("immediate"))
	close(tw.gate.open)

	run, err := client.Wait(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, run.State)
	var attempt, errs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempt, coalesce(cardinality(errors), 0) FROM river_job
		WHERE metadata ->> 'flow_node' = 'g'`).Scan(&attempt, &errs))
	require.Equal(t, 1, attempt, "the restart cost the node no attempt")
	require.Zero(t, errs)
	require.False(t, declaredDead.Load())
}

// flow.check says what no live worker will do: a kind no live worker has a
// worker for, a queue no live worker serves, a run with nothing due for more
// than a day.
func TestCheckReportsWhatTheFleetWillNotDo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	flowtest.JoinFleet(t, b.pool, &flow.FleetConfig{Kinds: []string{"noop"}}, river.QueueDefault)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "fine", "kind": "noop"},
		{"id": "typo", "kind": "Noop"},
		{"id": "elsewhere", "kind": "noop", "queue": "other"}]}`)
	someday := time.Now().UTC().AddDate(0, 6, 0).Truncate(time.Second)
	later := b.startSQL(t, fmt.Sprintf(`{"nodes": [{"id": "someday", "kind": "noop", "at": %q}]}`, someday.Format(time.RFC3339)))

	problems, err := b.flow.Check(b.ctx, 0)
	require.NoError(t, err)
	require.ElementsMatch(t, []flow.Problem{
		{RunID: runID, NodeID: "typo", Category: flow.ProblemFleet,
			Problem: `available with kind "Noop", which no live worker serving queue "default" has a worker for`},
		{RunID: runID, NodeID: "elsewhere", Category: flow.ProblemFleet,
			Problem: `available in queue "other", which no live worker serves`},
		{RunID: later, Category: flow.ProblemSchedule,
			Problem: "nothing in it runs before " + someday.Format("2006-01-02 15:04:05") + "+00, when its earliest scheduled node is due"},
	}, problems)
}

// River keeps the kinds a client has workers for in an unexported map; the
// fleet reads it by reflection. This pins that to the River in go.mod.
func TestRegisteredKindsReadsRiversWorkers(t *testing.T) {
	t.Parallel()
	workers := river.NewWorkers()
	jobs.Register(workers)
	kinds := flow.RegisteredKinds(workers)
	require.Contains(t, kinds, "noop")
	require.Contains(t, kinds, "sleep")
	require.Nil(t, flow.RegisteredKinds(nil))
}

// A River client id names one worker for good: registering it again is
// refused, saying why.
func TestJoinFleetRefusesAReusedClientID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	config := flow.RiverConfig(b.pool, nil)
	first, err := flow.JoinFleet(b.ctx, b.pool, config, nil)
	require.NoError(t, err)
	require.NoError(t, first.Leave(b.ctx))
	_, err = flow.JoinFleet(b.ctx, b.pool, config, nil)
	require.ErrorContains(t, err, fmt.Sprintf("River client id %q is already used by worker %d", config.ID, first.ID()))

	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT state FROM flow.workers WHERE id = $1", first.ID()).Scan(&state))
	require.Equal(t, "stopped", state)
	require.True(t, strings.HasPrefix(config.ID, "htdag_"))
}
