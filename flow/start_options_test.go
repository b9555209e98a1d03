package flow_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

const keyedSpec = `{"key": "nightly-2026-11-26", "nodes": [
	{"id": "a", "kind": "noop"},
	{"id": "b", "kind": "noop", "deps": ["a"]}]}`

func countRows(t *testing.T, b *testBundle) (runs, jobCount int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT (SELECT count(*) FROM flow.run), (SELECT count(*) FROM river_job)`).Scan(&runs, &jobCount))
	return runs, jobCount
}

// Starting again with the key of an unfinished run returns that run and
// inserts nothing; once it has finished, the key starts a new run.
func TestStartWithKeyIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)

	first := b.startSQL(t, keyedSpec)
	second, err := b.flow.Start(b.ctx, flow.JSONSpec(keyedSpec))
	require.NoError(t, err)
	require.Equal(t, first, second)
	runs, jobCount := countRows(t, b)
	require.Equal(t, 1, runs)
	require.Equal(t, 2, jobCount)

	b.complete(t, first, "a", "b")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, first).State)
	third, err := b.flow.Start(b.ctx, flow.JSONSpec(keyedSpec))
	require.NoError(t, err)
	require.NotEqual(t, first, third)
}

// Two transactions starting with one key at once create one run: the second
// waits on the first's insert, then returns its run.
func TestStartWithKeyConcurrently(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tx1, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx1.Rollback(b.ctx) }()
	tx2, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx2.Rollback(b.ctx) }()

	id1, err := b.flow.StartTx(b.ctx, tx1, flow.JSONSpec(keyedSpec))
	require.NoError(t, err)

	type result struct {
		id  int64
		err error
	}
	second := make(chan result, 1)
	go func() {
		id, err := b.flow.StartTx(b.ctx, tx2, flow.JSONSpec(keyedSpec))
		second <- result{id, err}
	}()
	// tx2 is blocked on tx1's row until tx1 commits; wait until it is.
	require.Eventually(t, func() bool {
		var waiting bool
		_ = b.pool.QueryRow(b.ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%flow.start%')`).Scan(&waiting)
		return waiting
	}, 20*time.Second, 5*time.Millisecond, "the second start never waited on the first")
	require.NoError(t, tx1.Commit(b.ctx))

	r := <-second
	require.NoError(t, r.err)
	require.NoError(t, tx2.Commit(b.ctx))
	require.Equal(t, id1, r.id)
	runs, jobCount := countRows(t, b)
	require.Equal(t, 1, runs)
	require.Equal(t, 2, jobCount)
}

// Run-level queue, priority, max_attempts and at are defaults for nodes that
// set none; a node's own setting wins.
func TestStartRunLevelDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	runID := b.startSQL(t, `{"queue": "slow", "priority": 3, "max_attempts": 7, "at": "`+at+`", "nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "queue": "fast", "priority": 1, "max_attempts": 2}]}`)

	type jobRow struct {
		Queue       string
		Priority    int
		MaxAttempts int
		State       string
	}
	get := func(node string) jobRow {
		var r jobRow
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT queue, priority, max_attempts, state FROM river_job WHERE id = $1`,
			b.jobID(t, runID, node)).Scan(&r.Queue, &r.Priority, &r.MaxAttempts, &r.State))
		return r
	}
	require.Equal(t, jobRow{"slow", 3, 7, "scheduled"}, get("a"))
	require.Equal(t, jobRow{"fast", 1, 2, "scheduled"}, get("b"))
}

// A node over its timeout_ms has its context cancelled and the attempt fails
// (here its only one: the node is discarded and the run fails).
func TestNodeTimeoutFailsTheAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("timeout")
	w.Add("slow", jobs.SleepArgs{MS: 3_600_000}, flow.WithTimeout(50*time.Millisecond), flow.WithMaxAttempts(1))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	node := b.nodes(t, runID)["slow"]
	require.Equal(t, "discarded", node.State)
	require.Contains(t, node.LastError, "exceeded its timeout of 50 ms")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}
