package flow_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// upstreamError is what the trigger writes into a job it cancels because a
// node above it failed.
const upstreamError = "htdag: cancelled because an upstream node failed"

// A node that runs out of attempts is discarded; everything below it is
// cancelled, everything not below it runs to completion, and the run fails.
func TestFailureDiscardedNodeCancelsDescendants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	//   a ─┬─ f ─── g ─── h        f fails every attempt (2 of them)
	//      │   └──┐
	//      └─ s ──┴─ j             j needs f and s
	//         └──── t
	//   r                          independent root
	w := flow.New("failure")
	a := w.Add("a", jobs.NoopArgs{})
	f := w.Add("f", jobs.FailArgs{Times: 5}, flow.After(a), flow.WithMaxAttempts(2))
	g := w.Add("g", jobs.NoopArgs{}, flow.After(f))
	w.Add("h", jobs.NoopArgs{}, flow.After(g))
	s := w.Add("s", jobs.NoopArgs{}, flow.After(a))
	w.Add("t", jobs.NoopArgs{}, flow.After(s))
	w.Add("j", jobs.NoopArgs{}, flow.After(f, s))
	w.Add("r", jobs.NoopArgs{})
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	require.Equal(t, 8, run.NodeCount)
	require.Zero(t, run.Unfinished)
	require.Equal(t, 4, run.Failed) // f discarded, g h j cancelled

	nodes := b.nodes(t, runID)
	require.Equal(t, map[string]string{
		"a": "completed", "f": "discarded", "g": "cancelled", "h": "cancelled",
		"s": "completed", "t": "completed", "j": "cancelled", "r": "completed",
	}, b.states(t, runID))
	require.Equal(t, 2, nodes["f"].Attempt)
	require.Equal(t, 2, nodes["f"].Errors)
	require.Contains(t, nodes["f"].LastError, "fail: attempt 2 of 5 planned failures")
	for _, id := range []string{"g", "h", "j"} {
		require.Equal(t, upstreamError, nodes[id].LastError, id)
		require.Zero(t, nodes[id].Attempt, "%s never ran", id)
	}
	// j's waiting still counts f, which never completed.
	require.Equal(t, 1, nodes["j"].Waiting)

	// The run's output holds the completed sinks only.
	require.JSONEq(t, `{"t": null, "r": null}`, string(run.Output))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A pending node cancelled through River's JobCancel takes its descendants
// with it; the rest of the run goes on and the run fails.
func TestFailurePendingNodeCancelledByJobCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]},
		{"id": "c", "kind": "noop", "deps": ["b"]},
		{"id": "e", "kind": "noop", "deps": ["a"]}]}`)

	cancelled, err := insertOnlyRiver(t, b.pool).JobCancel(b.ctx, b.jobID(t, runID, "b"))
	require.NoError(t, err)
	require.Equal(t, "cancelled", string(cancelled.State))

	nodes := b.nodes(t, runID)
	require.Equal(t, map[string]string{"a": "available", "b": "cancelled", "c": "cancelled", "e": "pending"}, b.states(t, runID))
	require.Equal(t, upstreamError, nodes["c"].LastError)
	run := b.getRun(t, runID)
	require.False(t, run.State.Finished())
	require.Equal(t, 2, run.Unfinished)
	require.Equal(t, 2, run.Failed)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	startRiver(t, b.pool, newTestWorkers())
	run = b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	require.Equal(t, 2, run.Failed)
	require.Equal(t, map[string]string{"a": "completed", "b": "cancelled", "c": "cancelled", "e": "completed"}, b.states(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A running node cancelled through River's JobCancel ends cancelled when its
// worker returns, and its descendants are cancelled.
func TestFailureRunningNodeCancelledByJobCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	client, _ := startRiver(t, b.pool, tw)

	w := flow.New("cancel running")
	g := w.Add("g", gateArgs{})
	w.Add("c", jobs.NoopArgs{}, flow.After(g))
	w.Add("other", jobs.NoopArgs{})
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, 20*time.Second, 10*time.Millisecond,
		"the gate node never started")
	_, err = client.JobCancel(b.ctx, b.jobID(t, runID, "g"))
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	require.Equal(t, 2, run.Failed)
	require.Equal(t, map[string]string{"g": "cancelled", "c": "cancelled", "other": "completed"}, b.states(t, runID))
	require.Equal(t, upstreamError, b.nodes(t, runID)["c"].LastError)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A node that fails and then succeeds on a retry completes, releases its
// children and the run completes.
func TestFailureRetriedNodeCompletesRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("retry")
	f := w.Add("f", jobs.FailArgs{Times: 1}, flow.WithMaxAttempts(3))
	w.Add("after", jobs.EchoArgs{}, flow.After(f))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.Zero(t, run.Failed)

	nodes := b.nodes(t, runID)
	require.Equal(t, "completed", nodes["f"].State)
	require.Equal(t, 2, nodes["f"].Attempt)
	require.Equal(t, 1, nodes["f"].Errors)
	require.JSONEq(t, `{"attempts": 2}`, string(nodes["f"].Output))
	require.Equal(t, "completed", nodes["after"].State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Deleting an unfinished node's job (River's JobDelete, River UI, or DELETE
// in psql) would leave its children waiting forever; flow_guard_delete
// refuses it, and the run goes on.
func TestJobDeleteOfUnfinishedNodeIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]},
		{"id": "c", "kind": "noop", "deps": ["b"]}]}`)
	_, deleteErr := insertOnlyRiver(t, b.pool).JobDelete(b.ctx, b.jobID(t, runID, "b"))
	require.ErrorContains(t, deleteErr, `node "b" of run`)
	require.ErrorContains(t, deleteErr, "cancel it rather than delete it")

	b.complete(t, runID, "a")
	require.Equal(t, "available", b.states(t, runID)["b"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// River's JobRetry on a node the trigger cancelled (because its parent
// failed) would run it without its parent's output; flow_guard_runnable
// refuses any move to a runnable state while a parent has not completed.
func TestJobRetryOfNodeWithUnfinishedParentIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	rc := insertOnlyRiver(t, b.pool)
	_, err := rc.JobCancel(b.ctx, b.jobID(t, runID, "a"))
	require.NoError(t, err)
	require.Equal(t, "cancelled", b.states(t, runID)["b"])

	_, err = rc.JobRetry(b.ctx, b.jobID(t, runID, "b"))
	require.ErrorContains(t, err, `node "b" of run`)
	require.ErrorContains(t, err, "1 of its parents have not completed")
	require.Equal(t, "cancelled", b.states(t, runID)["b"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}
