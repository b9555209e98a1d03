package flow_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// A 1 -> 200 -> 1 run whose middle node 137 fails for good ends failed with
// the join cancelled; once the node is fixed, Retry finishes the run, and the
// 199 other middle nodes have run exactly once in all.
func TestRetryResumesFromTheFailureFrontier(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("wide")
	root := w.Add("root", jobs.NoopArgs{})
	var mids []*flow.Node
	for i := 1; i <= 200; i++ {
		if i == 137 {
			mids = append(mids, w.Add("m137", jobs.FailArgs{Times: 1000}, flow.After(root), flow.WithMaxAttempts(1)))
			continue
		}
		mids = append(mids, w.Add(fmt.Sprintf("m%d", i), jobs.NoopArgs{}, flow.After(root)))
	}
	w.Add("join", jobs.NoopArgs{}, flow.After(mids...))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	states := b.states(t, runID)
	require.Equal(t, "discarded", states["m137"])
	require.Equal(t, "cancelled", states["join"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	// Fix the node, then resume.
	_, err = b.pool.Exec(b.ctx, `UPDATE river_job SET args = '{"times": 0}' WHERE id = $1`, b.jobID(t, runID, "m137"))
	require.NoError(t, err)
	reset, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, 2, reset, "m137 and the join")

	// Retrying again while it runs changes nothing.
	again, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Zero(t, again)

	run = b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.Zero(t, run.Failed)
	for id, node := range b.nodes(t, runID) {
		require.Equal(t, "completed", node.State, id)
		require.Equal(t, 1, node.Attempt, "%s ran %d times (m137: once after its fresh budget)", id, node.Attempt)
	}
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A cancelled run resumes too; a completed or unknown run is not retried.
func TestRetryCancelledAndNotRetryable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	b.complete(t, runID, "a")
	cancelled, err := b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.True(t, cancelled)
	require.Equal(t, flow.RunStateCancelled, b.getRun(t, runID).State)

	reset, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, 1, reset)
	run := b.getRun(t, runID)
	require.Equal(t, flow.RunStateRunning, run.State)
	require.Nil(t, run.CancelledAt)
	require.Equal(t, map[string]string{"a": "completed", "b": "available"}, b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	b.complete(t, runID, "b")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, runID).State)
	reset, err = b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Zero(t, reset)

	_, err = b.flow.Retry(b.ctx, 987654)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
}

// CancelTx and RetryTx change the run only with their transaction: rolled
// back, the run is as it was; committed, as Cancel and Retry leave it.
func TestCancelTxAndRetryTxFollowTheirTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	b.complete(t, runID, "a")

	inTx := func(commit bool, fn func(tx pgx.Tx)) {
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		fn(tx)
		if commit {
			require.NoError(t, tx.Commit(b.ctx))
		}
	}

	inTx(false, func(tx pgx.Tx) {
		cancelled, err := b.flow.CancelTx(b.ctx, tx, runID)
		require.NoError(t, err)
		require.True(t, cancelled)
		var state string
		require.NoError(t, tx.QueryRow(b.ctx, "SELECT state FROM flow.run WHERE id = $1", runID).Scan(&state))
		require.Equal(t, "cancelled", state, "inside the transaction")
	})
	require.Equal(t, flow.RunStateRunning, b.getRun(t, runID).State, "rolled back")
	require.Equal(t, map[string]string{"a": "completed", "b": "available"}, b.states(t, runID))

	inTx(true, func(tx pgx.Tx) {
		cancelled, err := b.flow.CancelTx(b.ctx, tx, runID)
		require.NoError(t, err)
		require.True(t, cancelled)
	})
	require.Equal(t, flow.RunStateCancelled, b.getRun(t, runID).State)

	inTx(false, func(tx pgx.Tx) {
		reset, err := b.flow.RetryTx(b.ctx, tx, runID)
		require.NoError(t, err)
		require.Equal(t, 1, reset)
	})
	require.Equal(t, flow.RunStateCancelled, b.getRun(t, runID).State, "rolled back")
	require.Equal(t, map[string]string{"a": "completed", "b": "cancelled"}, b.states(t, runID))

	inTx(true, func(tx pgx.Tx) {
		reset, err := b.flow.RetryTx(b.ctx, tx, runID)
		require.NoError(t, err)
		require.Equal(t, 1, reset)
	})
	require.Equal(t, flow.RunStateRunning, b.getRun(t, runID).State)
	require.Equal(t, map[string]string{"a": "completed", "b": "available"}, b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	inTx(false, func(tx pgx.Tx) {
		_, err := b.flow.CancelTx(b.ctx, tx, 987654)
		require.ErrorIs(t, err, flow.ErrRunNotFound)
	})
}
