package flow_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// River's cleaner deletes finished jobs after its retention period. While a
// run is unfinished its finished nodes' outputs are still needed (children's
// inputs, the run's output), so deleting them is skipped without an error
// (an error would fail the cleaner's whole batch); once the run has finished
// they go.
func TestFinishedJobsOfUnfinishedRunSurviveCleaner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	b.complete(t, runID, "a")

	// What River's cleaner runs, in effect.
	cleaner := `DELETE FROM river_job WHERE state IN ('completed', 'cancelled', 'discarded')`
	tag, err := b.pool.Exec(b.ctx, cleaner)
	require.NoError(t, err)
	require.Zero(t, tag.RowsAffected())
	require.Equal(t, "completed", b.states(t, runID)["a"])

	b.complete(t, runID, "b")
	require.Equal(t, "completed", string(b.getRun(t, runID).State))
	tag, err = b.pool.Exec(b.ctx, cleaner)
	require.NoError(t, err)
	require.EqualValues(t, 2, tag.RowsAffected())
	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state FROM flow.nodes WHERE run_id = $1 AND node_id = 'a'`, runID).Scan(&state))
	require.Equal(t, "deleted", state)
	require.Equal(t, "completed", string(b.getRun(t, runID).State), "the run's row outlives its jobs")
}
