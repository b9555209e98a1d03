package flow_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// flow.node_stats counts the nodes finished in its window per workflow and
// kind, with rates and duration percentiles, and rows that add up over each;
// flow_reader may call it.
func TestNodeStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.startSQL(t, `{"name": "etl", "nodes": [
		{"id": "a", "kind": "fetch"}, {"id": "b", "kind": "fetch"}, {"id": "c", "kind": "fetch"}, {"id": "d", "kind": "fetch"},
		{"id": "s", "kind": "store", "deps": ["a"]}]}`)
	other := b.startSQL(t, `{"name": "report", "nodes": [{"id": "x", "kind": "fetch"}]}`)
	// Durations 100, 200, 300 and 400 ms; "d" took three attempts and was
	// discarded, "b" two.
	finish := func(runID int64, node, state string, ms, attempt int) {
		t.Helper()
		_, err := b.pool.Exec(b.ctx, `
			UPDATE river_job SET state = $2::river_job_state, attempt = $4, attempted_at = now() - make_interval(secs => $3 / 1000.0),
			       finalized_at = now()
			 WHERE id = $1`, b.jobID(t, runID, node), state, ms, attempt)
		require.NoError(t, err)
	}
	finish(run, "a", "completed", 100, 1)
	finish(run, "b", "completed", 200, 2)
	finish(run, "c", "completed", 300, 1)
	finish(run, "d", "discarded", 400, 3)
	finish(other, "x", "completed", 1000, 1)
	// "s" is released but not finished: not counted.

	type row struct {
		nodes, completed, discarded, cancelled, retried int64
		failureRate, retryRate, p50, p95, p99, max      float64
	}
	read := func(workflow, kind *string) row {
		t.Helper()
		var r row
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT nodes, completed, discarded, cancelled, retried, failure_rate, retry_rate, p50_ms, p95_ms, p99_ms, max_ms
			  FROM flow.node_stats('1 hour') WHERE workflow IS NOT DISTINCT FROM $1 AND kind IS NOT DISTINCT FROM $2`, workflow, kind).
			Scan(&r.nodes, &r.completed, &r.discarded, &r.cancelled, &r.retried, &r.failureRate, &r.retryRate, &r.p50, &r.p95, &r.p99, &r.max))
		return r
	}
	etl, fetch := "etl", "fetch"
	got := read(&etl, &fetch)
	require.Equal(t, []int64{4, 3, 1, 0, 2}, []int64{got.nodes, got.completed, got.discarded, got.cancelled, got.retried})
	require.InDelta(t, 0.25, got.failureRate, 1e-9)
	require.InDelta(t, 0.5, got.retryRate, 1e-9)
	require.InDelta(t, 250, got.p50, 5, "between 200 and 300 ms")
	require.InDelta(t, 385, got.p95, 5)
	require.InDelta(t, 397, got.p99, 5)
	require.InDelta(t, 400, got.max, 5)

	allFetch := read(nil, &fetch)
	require.EqualValues(t, 5, allFetch.nodes, "fetch in both workflows")
	require.InDelta(t, 1000, allFetch.max, 5)
	all := read(nil, nil)
	require.EqualValues(t, 5, all.nodes, "every finished node; the pending one is not counted")

	var empty int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow.node_stats('1 hour') WHERE workflow = 'nope'`).Scan(&empty))
	require.Zero(t, empty)
	// An empty window: one row of zeros, no division by zero.
	var (
		nodes int
		rate  *float64
	)
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT nodes, failure_rate FROM flow.node_stats('0 seconds')`).Scan(&nodes, &rate))
	require.Zero(t, nodes)
	require.Nil(t, rate)

	// A reader counts only its own roles' runs; an admin's reader, all.
	_, reader := b.loginAs(t, "reader", "flow_reader")
	var readerNodes int
	require.NoError(t, reader.QueryRow(b.ctx, `SELECT nodes FROM flow.node_stats('1 hour') WHERE workflow IS NULL AND kind IS NULL`).Scan(&readerNodes))
	require.Zero(t, readerNodes, "the runs are the admin's, not the reader's")
	_, admin := b.loginAs(t, "admin", "flow_admin")
	var adminRows int
	require.NoError(t, admin.QueryRow(b.ctx, `SELECT count(*) FROM flow.node_stats('1 hour')`).Scan(&adminRows))
	require.Equal(t, 6, adminRows, "(etl, fetch) (report, fetch) (etl) (report) (fetch) ()")
}
