package flow_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
)

// cleanerSQL is what River's cleaner runs, in effect.
const cleanerSQL = `DELETE FROM river_job WHERE state IN ('completed', 'cancelled', 'discarded')`

// River's cleaner never deletes a flow job, so no run is ever half-deleted:
// not while it runs (its finished nodes' outputs are its children's inputs),
// nor once it has finished. Plain River jobs are cleaned as before.
func TestCleanerLeavesRunsWhole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	_, err := b.pool.Exec(b.ctx, `INSERT INTO river_job (args, kind, max_attempts, state, finalized_at) VALUES ('{}', 'plain', 1, 'completed', now())`)
	require.NoError(t, err)
	b.complete(t, runID, "a")

	tag, err := b.pool.Exec(b.ctx, cleanerSQL)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "only the plain job")
	require.Equal(t, "completed", b.states(t, runID)["a"])

	b.complete(t, runID, "b")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, runID).State)
	tag, err = b.pool.Exec(b.ctx, cleanerSQL)
	require.NoError(t, err)
	require.Zero(t, tag.RowsAffected())
	require.Equal(t, map[string]string{"a": "completed", "b": "completed"}, b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// flow.delete_finished_runs deletes finished runs whole, older ones first,
// and leaves unfinished runs alone.
func TestDeleteFinishedRunsWhole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`
	done1 := b.startSQL(t, spec)
	done2 := b.startSQL(t, spec)
	open := b.startSQL(t, spec)
	b.complete(t, done1, "a", "b")
	b.complete(t, done2, "a", "b")

	var deleted int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.delete_finished_runs('1 hour')`).Scan(&deleted))
	require.Zero(t, deleted, "nothing finished an hour ago")
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.delete_finished_runs('0 seconds', 1)`).Scan(&deleted))
	require.Equal(t, 1, deleted, "a batch of one")
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.delete_finished_runs('0 seconds', 10)`).Scan(&deleted))
	require.Equal(t, 1, deleted)

	var runs, nodes, jobCount int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT (SELECT count(*) FROM flow.run), (SELECT count(*) FROM flow.node), (SELECT count(*) FROM river_job)`).
		Scan(&runs, &nodes, &jobCount))
	require.Equal(t, []int{1, 2, 2}, []int{runs, nodes, jobCount}, "only the unfinished run is left, whole")
	_, err := b.flow.GetRun(b.ctx, done1)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	flowtest.RequireInvariants(b.ctx, t, b.pool, open)
}

// Retention deletes a tree with its top run, once every run in it has
// finished, and never a child run on its own.
func TestDeleteFinishedRunsDeletesWholeTrees(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := `{"nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}, {"id": "after", "kind": "noop", "deps": ["s"]}]}`
	done := b.startSQL(t, spec)
	open := b.startSQL(t, spec)
	for _, top := range []int64{done, open} {
		var child int64
		require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT id FROM flow.run WHERE parent_run_id = $1", top).Scan(&child))
		b.complete(t, child, "x") // the child run finishes; "after" is released
	}
	b.complete(t, done, "after")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, done).State)

	var deleted int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.delete_finished_runs('0 seconds', 10)`).Scan(&deleted))
	require.Equal(t, 1, deleted, "the finished tree; the open tree's finished child run stays")

	var runs, nodes, jobCount, counts int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT (SELECT count(*) FROM flow.run), (SELECT count(*) FROM flow.node), (SELECT count(*) FROM river_job),
		       (SELECT count(*) FROM flow.tree_count)`).
		Scan(&runs, &nodes, &jobCount, &counts))
	require.Equal(t, []int{2, 3, 3, 1}, []int{runs, nodes, jobCount, counts}, "only the open tree is left, whole")
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, open)
}

// DeleteFinishedRunsTx deletes with its transaction: rolled back, the run is
// still there, whole; committed, it is gone.
func TestDeleteFinishedRunsTxFollowsItsTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}]}`)
	b.complete(t, runID, "a")

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	deleted, err := b.flow.DeleteFinishedRunsTx(b.ctx, tx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, 1, deleted)
	require.NoError(t, tx.Rollback(b.ctx))
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, runID).State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	tx, err = b.pool.Begin(b.ctx)
	require.NoError(t, err)
	deleted, err = b.flow.DeleteFinishedRunsTx(b.ctx, tx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, 1, deleted)
	require.NoError(t, tx.Commit(b.ctx))
	_, err = b.flow.GetRun(b.ctx, runID)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	requireNoRows(t, b.ctx, b.pool)
}

// Failed and cancelled trees can be kept longer than completed ones: each
// state goes after its own age, and a zero age keeps that state.
func TestDeleteFinishedRunsByStateKeepsFailuresLonger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spec := `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`
	completed := b.startSQL(t, spec)
	b.complete(t, completed, "a", "b")
	failed := b.startSQL(t, spec)
	_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1`, b.jobID(t, failed, "a"))
	require.NoError(t, err)
	cancelled := b.startSQL(t, spec)
	_, err = b.flow.Cancel(b.ctx, cancelled)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateFailed, b.getRun(t, failed).State)
	require.Equal(t, flow.RunStateCancelled, b.getRun(t, cancelled).State)

	_, err = b.flow.DeleteFinishedRunsByState(b.ctx, flow.Retention{Completed: -time.Second}, 0)
	require.ErrorContains(t, err, "must not be negative")

	deleted, err := b.flow.DeleteFinishedRunsByState(b.ctx, flow.Retention{Completed: time.Nanosecond, Failed: time.Hour}, 0)
	require.NoError(t, err)
	require.Equal(t, 1, deleted, "the completed run; the failures are younger than an hour")
	_, err = b.flow.GetRun(b.ctx, completed)
	require.ErrorIs(t, err, flow.ErrRunNotFound)

	deleted, err = b.flow.DeleteFinishedRunsByState(b.ctx, flow.Retention{Completed: time.Nanosecond}, 0)
	require.NoError(t, err)
	require.Zero(t, deleted, "a zero age keeps failed and cancelled runs")

	deleted, err = b.flow.DeleteFinishedRunsByState(b.ctx, flow.Retention{Failed: time.Nanosecond}, 1)
	require.NoError(t, err)
	require.Equal(t, 2, deleted, "batches of one until none is left")
	requireNoRows(t, b.ctx, b.pool)
}
