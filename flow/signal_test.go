package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// approvalSpec is build -> approve (a wait node with the given "wait") ->
// deploy, an echo node whose output holds its parents' outputs.
func approvalSpec(wait string) string {
	return `{"name": "release", "nodes": [
		{"id": "build", "kind": "noop"},
		{"id": "approve", "wait": ` + wait + `, "deps": ["build"]},
		{"id": "deploy", "kind": "echo", "deps": ["approve"]}]}`
}

// waitUntilWaiting waits until the node is waiting for a signal.
func (b *testBundle) waitUntilWaiting(t *testing.T, runID int64, nodeID string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return b.nodeStates(t, runID)[nodeID] == flow.NodeStateWaiting
	}, 20*time.Second, 5*time.Millisecond, "node %s of run %d never waited", nodeID, runID)
}

// requireNotWaiting asserts that err is a NotWaitingError whose reason
// contains want.
func requireNotWaiting(t *testing.T, err error, want string) {
	t.Helper()
	var nw *flow.NotWaitingError
	require.ErrorAs(t, err, &nw)
	require.Contains(t, nw.Reason, want)
}

// A signal completes a waiting node with its payload as output, in the
// signaller's transaction: its child is released by that same transaction,
// and reads the payload in its inputs. The wait node shows as waiting in
// flow.nodes, flow.tree and flow.blocked until then.
func TestSignalCompletesTheWaitNodeAndChildrenReadThePayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, approvalSpec(`{}`))
	b.waitUntilWaiting(t, runID, "approve")

	tree, err := b.flow.Tree(b.ctx, runID)
	require.NoError(t, err)
	treeStates := map[string]flow.NodeState{}
	for _, n := range tree {
		treeStates[n.NodeID] = n.State
	}
	require.Equal(t, flow.NodeStateWaiting, treeStates["approve"])
	var since *time.Time
	var until *time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT waiting_for_signal_since, signal_timeout_at
		  FROM flow.blocked WHERE run_id = $1 AND node_id = 'approve'`, runID).Scan(&since, &until))
	require.NotNil(t, since)
	require.Nil(t, until, "no timeout")
	require.Equal(t, "pending", b.states(t, runID)["approve"], "no timeout: the job stays pending, never fetched")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
	rows, err := b.pool.Query(b.ctx, "SELECT problem FROM flow.check($1)", runID)
	require.NoError(t, err)
	problems, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, problems, "a waiting node is not a stuck run")

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	require.NoError(t, b.flow.SignalTx(b.ctx, tx, runID, "approve", map[string]any{"approved": true, "by": "ana"}))
	var deployState string
	require.NoError(t, tx.QueryRow(b.ctx, `SELECT j.state::text FROM river_job j JOIN flow.node n ON n.job_id = j.id
		 WHERE n.run_id = $1 AND n.node_id = 'deploy'`, runID).Scan(&deployState))
	require.Contains(t, []string{"available", "running", "completed"}, deployState, "released in the signal's transaction")
	require.Equal(t, flow.NodeStateWaiting, b.nodeStates(t, runID)["approve"], "not before the commit")
	require.NoError(t, tx.Commit(b.ctx))

	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.JSONEq(t, `{"approved": true, "by": "ana"}`, string(b.echoedParents(t, runID, "deploy")["approve"]))
	require.JSONEq(t, `{"approved": true, "by": "ana"}`, string(b.nodes(t, runID)["approve"].Output))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A signal from SQL in a user transaction that rolls back leaves the node
// waiting and its child pending; a later signal completes it.
func TestSignalRolledBackLeavesTheNodeWaiting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, approvalSpec(`{}`))
	b.waitUntilWaiting(t, runID, "approve")

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, "SELECT flow.signal($1, 'approve', '{\"approved\": true}')", runID)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))
	require.Equal(t, flow.NodeStateWaiting, b.nodeStates(t, runID)["approve"])
	require.Equal(t, flow.NodeStatePending, b.nodeStates(t, runID)["deploy"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	_, err = b.pool.Exec(b.ctx, "SELECT flow.signal($1, 'approve', '{\"approved\": false}')", runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.JSONEq(t, `{"approved": false}`, string(b.echoedParents(t, runID, "deploy")["approve"]))
}

// A signal to a node that does not wait says which case it is, and changes
// nothing. No River client runs here: nodes are completed by hand.
func TestSignalToANodeThatDoesNotWait(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "build", "kind": "noop"},
		{"id": "approve", "wait": {}, "deps": ["build"]},
		{"id": "deploy", "kind": "noop", "deps": ["approve"]},
		{"id": "sub", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}, "deps": ["build"]},
		{"id": "other", "wait": {}}]}`)

	err := b.flow.Signal(b.ctx, runID+1000, "approve", nil)
	require.ErrorIs(t, err, flow.ErrRunNotFound)
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "nope", nil), "the run has no such node")
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "build", nil), `it is not a wait node (it is a task of kind "noop")`)
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "sub", nil), "it is not a wait node (it is a sub-workflow node)")
	err = b.flow.Signal(b.ctx, runID, "approve", nil)
	requireNotWaiting(t, err, "it does not wait yet: 1 of its parents have not finished (see flow.blocked)")
	require.Equal(t, fmt.Sprintf(`htdag: cannot signal node "approve" of run %d: it does not wait yet: 1 of its parents have not finished (see flow.blocked)`, runID), err.Error())
	// The SQL door says the same, with SQLSTATE 55000.
	_, err = b.pool.Exec(b.ctx, "SELECT flow.signal($1, 'approve', '{}')", runID)
	requireSQLState(t, err, "55000", `cannot signal node "approve" of run`)
	require.Equal(t, flow.NodeStatePending, b.nodeStates(t, runID)["approve"])

	b.complete(t, runID, "build")
	require.Equal(t, flow.NodeStateWaiting, b.nodeStates(t, runID)["approve"])
	require.NoError(t, b.flow.Signal(b.ctx, runID, "approve", "yes"))
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "approve", "again"), "it was already signalled, at ")
	require.JSONEq(t, `"yes"`, string(b.nodes(t, runID)["approve"].Output), "the second signal changed nothing")

	// The root wait node waits from the start; cancelling the run cancels it.
	require.Equal(t, flow.NodeStateWaiting, b.nodeStates(t, runID)["other"])
	_, err = b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCancelled, b.wait(t, runID).State)
	require.Equal(t, flow.NodeStateCancelled, b.nodeStates(t, runID)["other"])
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "other", nil), "the run has finished (cancelled) and it was cancelled")
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "approve", nil), "the run has finished (cancelled) and it was already signalled")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Without a default, a wait node fails when its timeout fires (River's
// scheduler hands its job to the flow.wait worker), and the run fails; a
// signal then says it timed out. flow.retry puts it back to waiting, with a
// fresh timeout.
func TestWaitTimeoutFailsTheNodeAndRetryWaitsAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, approvalSpec(`{"timeout_ms": 200}`))
	b.waitUntilWaiting(t, runID, "approve")
	var until *time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT signal_timeout_at FROM flow.blocked WHERE run_id = $1 AND node_id = 'approve'`,
		runID).Scan(&until))
	require.NotNil(t, until)

	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)
	approve := b.nodes(t, runID)["approve"]
	require.Equal(t, "discarded", approve.State)
	require.Equal(t, "htdag: node approve waited 200ms for a signal and timed out", approve.LastError)
	require.Equal(t, flow.NodeStateCancelled, b.nodeStates(t, runID)["deploy"])
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "approve", nil), "the run has finished (failed) and its timeout (200 ms) fired and it failed, at ")

	n, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, flow.NodeStateWaiting, b.nodeStates(t, runID)["approve"], "back to waiting")
	require.Equal(t, "scheduled", b.states(t, runID)["approve"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State, "and it times out again")
}

// With a default, a wait node whose timeout fires completes with the
// default as its output, and the run goes on; a late signal says so.
func TestWaitTimeoutWithDefaultCompletesWithTheDefault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, approvalSpec(`{"timeout_ms": 200, "default": {"approved": false, "why": "nobody answered"}}`))

	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.JSONEq(t, `{"approved": false, "why": "nobody answered"}`, string(b.echoedParents(t, runID, "deploy")["approve"]))
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "approve", true), "its timeout (200 ms) fired and it completed with its default")
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Waiting costs no worker slot: with one worker, a chain of tasks runs to
// its end while two wait nodes (one with a timeout an hour away, one with
// none) wait; nothing polls them either (they are never fetched).
func TestWaitNodeCostsNoWorkerSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	config := riverConfig(b.pool, newTestWorkers())
	config.Queues = map[string]river.QueueConfig{river.QueueDefault: riverQueue(1)}
	flowtest.StartRiver(t, b.pool, config)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "hour", "wait": {"timeout_ms": 3600000}},
		{"id": "forever", "wait": {}},
		{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}, {"id": "c", "kind": "noop", "deps": ["b"]},
		{"id": "after", "kind": "echo", "deps": ["hour", "forever", "c"]}]}`)
	require.Eventually(t, func() bool {
		return b.nodeStates(t, runID)["c"] == flow.NodeStateCompleted
	}, 20*time.Second, 5*time.Millisecond)
	st := b.nodeStates(t, runID)
	require.Equal(t, flow.NodeStateWaiting, st["hour"])
	require.Equal(t, flow.NodeStateWaiting, st["forever"])
	var attempts int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT sum(j.attempt) FROM river_job j JOIN flow.node n ON n.job_id = j.id
		 WHERE n.run_id = $1 AND n.node_id IN ('hour', 'forever')`, runID).Scan(&attempts))
	require.Zero(t, attempts, "never fetched")

	require.NoError(t, b.flow.Signal(b.ctx, runID, "hour", 1))
	require.NoError(t, b.flow.Signal(b.ctx, runID, "forever", 2))
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	parents := b.echoedParents(t, runID, "after")
	require.JSONEq(t, `1`, string(parents["hour"]))
	require.JSONEq(t, `2`, string(parents["forever"]))
}

// echoedParents returns what an echo node read from its parents' outputs.
func (b *testBundle) echoedParents(t *testing.T, runID int64, nodeID string) map[string]json.RawMessage {
	t.Helper()
	var out jobs.EchoOutput
	require.NoError(t, json.Unmarshal(b.nodes(t, runID)[nodeID].Output, &out))
	return out.Parents
}

// A role with nothing but USAGE on schema flow and EXECUTE on flow.signal
// (an approver) signals the runs of its roles, and no other: to it those do
// not exist. It can do nothing else (flow.cancel is refused).
func TestSignalerRoleSignalsOnlyRunsItMaySee(t *testing.T) {
	t.Parallel()
	b := setup(t)
	teamA := b.newRole(t, "team_a", false)
	teamB := b.newRole(t, "team_b", false)
	approverA, poolA := b.loginAs(t, "approver_a", teamA)
	approverB, poolB := b.loginAs(t, "approver_b", teamB)
	for _, role := range []string{approverA, approverB} {
		_, err := b.pool.Exec(b.ctx, "GRANT USAGE ON SCHEMA flow TO "+role+"; GRANT EXECUTE ON FUNCTION flow.signal(bigint, text, jsonb) TO "+role)
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = b.pool.Exec(context.Background(), "REVOKE ALL ON FUNCTION flow.signal(bigint, text, jsonb) FROM "+role+"; REVOKE ALL ON SCHEMA flow FROM "+role)
		})
	}
	var runID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.start('{"nodes": [{"id": "approve", "wait": {}}]}', NULL, $1)`, teamA).Scan(&runID))

	_, err := poolB.Exec(b.ctx, "SELECT flow.signal($1, 'approve', 'true')", runID)
	requireSQLState(t, err, "P0002", "does not exist")
	require.ErrorIs(t, flow.NewClient(poolB, nil).Signal(b.ctx, runID, "approve", true), flow.ErrRunNotFound)
	_, err = poolA.Exec(b.ctx, "SELECT flow.cancel($1)", runID)
	requireSQLState(t, err, "42501", "permission denied")
	require.Equal(t, flow.NodeStateWaiting, b.nodeStates(t, runID)["approve"])

	require.NoError(t, flow.NewClient(poolA, nil).Signal(b.ctx, runID, "approve", true))
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.JSONEq(t, `{"approve": true}`, string(b.getRun(t, runID).Output))
}

// Bad wait nodes are refused at start, naming the node and the key.
func TestWaitSpecErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct{ node, problem string }{
		{`{"id": "w", "wait": {}, "kind": "noop"}`,
			`node "w": a wait node takes no "kind" (it runs no work: flow.signal completes it; its timeout is "wait": {"timeout_ms": ...})`},
		{`{"id": "w", "wait": {}, "timeout_ms": 5}`, `node "w": a wait node takes no "timeout_ms"`},
		{`{"id": "w", "wait": {}, "max_attempts": 5}`, `node "w": a wait node takes no "max_attempts"`},
		{`{"id": "w", "wait": {}, "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}`, `node "w": a wait node takes no "workflow"`},
		{`{"id": "w", "wait": 5}`, `node "w": "wait" must be an object, such as {} or {"timeout_ms": 86400000, "default": {"approved": false}}`},
		{`{"id": "w", "wait": {"timeout": 5}}`, `node "w": "wait" has unknown key "timeout" (allowed: timeout_ms, default)`},
		{`{"id": "w", "wait": {"timeout_ms": 0}}`, `node "w": "wait": "timeout_ms" must be an integer from 1 to 315360000000 (ten years)`},
		{`{"id": "w", "wait": {"timeout_ms": "soon"}}`, `node "w": "wait": "timeout_ms" must be an integer from 1 to 315360000000 (ten years)`},
		{`{"id": "w", "wait": {"timeout_ms": 1.5}}`, `node "w": "wait": "timeout_ms" must be an integer from 1 to 315360000000 (ten years)`},
		{`{"id": "w", "wait": {"default": 1}}`, `node "w": "wait" has a "default" but no "timeout_ms": the default is the output when the wait times out`},
		{`{"id": "w", "kind": "flow.wait"}`, `node "w": kind "flow.wait" is htdag's own (sub-workflow, map, wait, River-door and run deadline jobs), not a node's`},
	} {
		_, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"nodes": [`+tc.node+`]}`))
		var specErr *flow.SpecError
		require.ErrorAs(t, err, &specErr, tc.node)
		require.Contains(t, specErr.Problem, tc.problem, tc.node)
	}
	requireNoRows(t, b.ctx, b.pool)

	// The builder refuses a timeout that is not whole milliseconds.
	w := flow.New("bad")
	w.AddWait("w", flow.Wait{Timeout: 500 * time.Microsecond})
	_, err := b.flow.Start(b.ctx, w)
	var specErr *flow.SpecError
	require.ErrorAs(t, err, &specErr)
	require.Equal(t, `node "w": wait timeout 500µs is not a positive number of milliseconds`, specErr.Problem)
}

// The builder's wait node is the JSON spec's.
func TestAddWaitBuildsTheJSONSpecsWaitNode(t *testing.T) {
	w := flow.New("release")
	build := w.Add("build", jobs.NoopArgs{})
	w.AddWait("approve", flow.Wait{Timeout: 24 * time.Hour, Default: map[string]bool{"approved": false}}, flow.After(build))
	w.AddWait("forever", flow.Wait{})
	spec, err := w.Spec()
	require.NoError(t, err)
	raw, err := json.Marshal(spec.Nodes[1:])
	require.NoError(t, err)
	require.JSONEq(t, `[{"id": "approve", "deps": ["build"], "wait": {"timeout_ms": 86400000, "default": {"approved": false}}},
		{"id": "forever", "wait": {}}]`, string(raw))
}

// The psql session of the README's "Signals and waits", statement for
// statement (run ids substituted).
func TestSignalREADMESession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	var runID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT flow.start('{"name": "release", "nodes": [
    {"id": "build",   "kind": "echo"},
    {"id": "approve", "wait": {"timeout_ms": 86400000}, "deps": ["build"]},
    {"id": "deploy",  "kind": "echo", "deps": ["approve"]}]}')`).Scan(&runID))
	b.waitUntilWaiting(t, runID, "approve")

	type blockedRow struct {
		NodeID    string
		WaitingOn []string
		Since     *time.Time
		Until     *time.Time
	}
	rows, err := b.pool.Query(b.ctx, fmt.Sprintf(`SELECT node_id, waiting_on, waiting_for_signal_since, signal_timeout_at FROM flow.blocked WHERE run_id = %d`,
		runID)+" ORDER BY node_id")
	require.NoError(t, err)
	blocked, err := pgx.CollectRows(rows, pgx.RowToStructByPos[blockedRow])
	require.NoError(t, err)
	require.Len(t, blocked, 2)
	require.Equal(t, "approve", blocked[0].NodeID)
	require.Empty(t, blocked[0].WaitingOn)
	require.Equal(t, 24*time.Hour, blocked[0].Until.Sub(*blocked[0].Since))
	require.Equal(t, "deploy", blocked[1].NodeID)
	require.Equal(t, []string{"approve"}, blocked[1].WaitingOn)
	require.Nil(t, blocked[1].Since)

	_, err = b.pool.Exec(b.ctx, fmt.Sprintf(`SELECT flow.signal(%d, 'approve', '{"approved": true, "by": "ana"}')`, runID))
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	var state, output string
	require.NoError(t, b.pool.QueryRow(b.ctx, fmt.Sprintf(`SELECT state, output -> 'deploy' -> 'parents' -> 'approve' AS approval
  FROM flow.runs WHERE id = %d`, runID)).Scan(&state, &output))
	require.Equal(t, "completed", state)
	require.JSONEq(t, `{"approved": true, "by": "ana"}`, output)

	_, err = b.pool.Exec(b.ctx, fmt.Sprintf(`SELECT flow.signal(%d, 'approve', '{"approved": false}')`, runID))
	requireSQLState(t, err, "55000", fmt.Sprintf(`htdag: cannot signal node "approve" of run %d: the run has finished (completed) and it was already signalled, at `, runID))
	_, err = b.pool.Exec(b.ctx, fmt.Sprintf(`SELECT flow.signal(%d, 'build', '{}')`, runID))
	requireSQLState(t, err, "55000", fmt.Sprintf(`htdag: cannot signal node "build" of run %d: it is not a wait node (it is a task of kind "echo")`, runID))
}

// A wait node's "if" decides as any node's: false skips it (no signal is
// needed, and a signal says it was skipped). A wait node in a child run is
// signalled through that run.
func TestWaitNodeWithIfAndInAChildRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"input": {"needs_approval": false}, "nodes": [
		{"id": "build", "kind": "noop"},
		{"id": "approve", "wait": {}, "deps": ["build"], "if": "$.input.needs_approval == true"},
		{"id": "ship", "kind": "noop", "deps": ["approve"], "trigger": "none_failed"},
		{"id": "sub", "deps": ["build"], "workflow": {"nodes": [{"id": "inner", "wait": {}}]}}]}`)
	var childRun int64
	require.Eventually(t, func() bool {
		tree, err := b.flow.Tree(b.ctx, runID)
		require.NoError(t, err)
		for _, n := range tree {
			if n.Path == "sub/inner" && n.State == flow.NodeStateWaiting {
				childRun = n.RunID
				return true
			}
		}
		return false
	}, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, flow.NodeStateSkipped, b.nodeStates(t, runID)["approve"])
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "approve", nil), "it was skipped")
	requireNotWaiting(t, b.flow.Signal(b.ctx, runID, "inner", nil), "the run has no such node")

	require.NoError(t, b.flow.Signal(b.ctx, childRun, "inner", "ok"))
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, flow.NodeStateCompleted, b.nodeStates(t, runID)["ship"])
	require.JSONEq(t, `{"inner": "ok"}`, string(b.nodes(t, runID)["sub"].Output))
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)
}
