package flowhttp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// /metrics parses as Prometheus text, and its node counters agree with the
// database: attempts by kind and outcome, durations, completer batches,
// release latencies of the children, finished runs and the fleet.
func TestMetricsAgreeWithTheDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, flow.RunStateCompleted, b.run(t, diamond).State)
	require.Equal(t, flow.RunStateFailed, b.run(t, `{"name": "broken", "nodes": [{"id": "x", "kind": "fail", "args": {"times": 5}, "max_attempts": 1}]}`).State)

	m := b.scrape(t)
	// Per kind: completed attempts = completed jobs in the database.
	rows, err := b.pool.Query(b.ctx, `SELECT kind, count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'discarded')
		FROM river_job WHERE metadata ? 'flow_run' GROUP BY kind`)
	require.NoError(t, err)
	var (
		kind                 string
		completed, discarded int
		totalCompleted       float64
	)
	seen := 0
	for rows.Next() {
		require.NoError(t, rows.Scan(&kind, &completed, &discarded))
		seen++
		got := value(m, "htdag_node_attempts_total", map[string]string{"kind": kind, "queue": "default", "outcome": "completed"})
		require.NotNil(t, got, kind)
		require.EqualValues(t, completed, got.GetCounter().GetValue(), kind)
		totalCompleted += got.GetCounter().GetValue()
		got = value(m, "htdag_node_attempts_total", map[string]string{"kind": kind, "queue": "default", "outcome": "discarded"})
		require.EqualValues(t, discarded, got.GetCounter().GetValue(), kind)
		h := value(m, "htdag_node_duration_seconds", map[string]string{"kind": kind, "queue": "default"})
		require.EqualValues(t, completed+discarded, h.GetHistogram().GetSampleCount(), "one duration per attempt of %s", kind)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 3, seen, "echo, noop, fail")
	require.EqualValues(t, 4, totalCompleted)

	batches := value(m, "htdag_completer_batch_nodes", nil).GetHistogram()
	require.EqualValues(t, totalCompleted, batches.GetSampleSum(), "every completion went through a batch")
	require.Equal(t, batches.GetSampleCount(), value(m, "htdag_completer_commit_seconds", nil).GetHistogram().GetSampleCount())

	release := value(m, "htdag_release_latency_seconds", nil).GetHistogram()
	require.EqualValues(t, 3, release.GetSampleCount(), "b, c and d waited for parents")
	require.Greater(t, release.GetSampleSum(), 0.0)
	require.Less(t, release.GetSampleSum(), 30.0)

	require.EqualValues(t, 1, value(m, "htdag_workers", map[string]string{"state": "alive"}).GetGauge().GetValue())
	require.EqualValues(t, 0, value(m, "htdag_runs", map[string]string{"state": "running"}).GetGauge().GetValue())
	require.EqualValues(t, 0, value(m, "htdag_nodes_blocked", nil).GetGauge().GetValue())
	require.EqualValues(t, 2, value(m, "htdag_runs_created_total", nil).GetCounter().GetValue())
	require.EqualValues(t, 1, value(m, "htdag_scrape_database_ok", nil).GetGauge().GetValue())

	// The finish notifications may still be on their way.
	require.Eventually(t, func() bool {
		m := b.scrape(t)
		return value(m, "htdag_runs_finished_total", map[string]string{"state": "completed"}).GetCounter().GetValue() == 1 &&
			value(m, "htdag_runs_finished_total", map[string]string{"state": "failed"}).GetCounter().GetValue() == 1
	}, 10*time.Second, 20*time.Millisecond)
	again := b.scrape(t)
	require.EqualValues(t, 3, value(again, "htdag_release_latency_seconds", nil).GetHistogram().GetSampleCount(), "each node is counted once")
}

// The gauges read the work in flight: a pending run with a blocked node and
// an available root, and the age of the oldest unfinished run.
func TestMetricsGaugesOfWorkInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A queue nobody works: the run stays as it was started.
	_, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"queue": "nobody", "nodes": [
		{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}, {"id": "c", "kind": "noop", "deps": ["a"]}]}`))
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE flow.run SET created_at = now() - interval '90 seconds'`)
	require.NoError(t, err)
	m := b.scrape(t)
	require.EqualValues(t, 1, value(m, "htdag_runs", map[string]string{"state": "pending"}).GetGauge().GetValue())
	require.EqualValues(t, 2, value(m, "htdag_nodes_blocked", nil).GetGauge().GetValue())
	require.EqualValues(t, 1, value(m, "htdag_jobs_available", map[string]string{"queue": "nobody"}).GetGauge().GetValue())
	age := value(m, "htdag_oldest_unfinished_run_age_seconds", nil).GetGauge().GetValue()
	require.InDelta(t, 90, age, 10)
}
