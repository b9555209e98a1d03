package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// deadlineWait is how long the tests wait for a deadline of a second or two
// to cancel a run: without a fleet, River's scheduler makes the deadline job
// available within its interval (5 s), on a loaded machine later.
const deadlineWait = 20 * time.Second

// childRuns returns the runs below runID (its whole tree but itself).
func (b *testBundle) childRuns(t *testing.T, runID int64) []*flow.Run {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, "SELECT id FROM flow.run WHERE root_run_id = $1 ORDER BY id", runID)
	require.NoError(t, err)
	var out []*flow.Run
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		out = append(out, b.getRun(t, id))
	}
	require.NoError(t, rows.Err())
	return out
}

// runEnded waits for a run to finish (flow.Wait would end at the test's own
// deadline; this one is the deadline tests').
func (b *testBundle) runEnded(t *testing.T, runID int64) *flow.Run {
	t.Helper()
	var run *flow.Run
	require.Eventually(t, func() bool {
		run = b.getRun(t, runID)
		return run.State.Finished()
	}, deadlineWait, 20*time.Millisecond, "run %d did not finish", runID)
	return run
}

// A run with "timeout_ms" whose node sleeps for a minute is cancelled at its
// deadline, through every level: its sleeping nodes (the top run's and a
// child run's) are cancelled, not completed, its child runs end cancelled,
// and every run says why. Started from SQL.
func TestRunDeadlineCancelsTheTree(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	runID := b.startSQL(t, `{"name": "deadline", "timeout_ms": 2000, "nodes": [
		{"id": "slow", "kind": "sleep", "args": {"ms": 60000}},
		{"id": "after", "kind": "noop", "deps": ["slow"]},
		{"id": "sub", "workflow": {"nodes": [
			{"id": "inner", "kind": "sleep", "args": {"ms": 60000}},
			{"id": "deeper", "workflow": {"nodes": [{"id": "x", "kind": "sleep", "args": {"ms": 60000}}]}}]}}]}`)
	run := b.getRun(t, runID)
	require.Equal(t, int64(2000), run.TimeoutMS)
	require.NotNil(t, run.DeadlineAt)
	require.Equal(t, 2, len(b.childRuns(t, runID)), "the sub-workflows start with their run")

	run = b.runEnded(t, runID)
	reason := fmt.Sprintf("run %d passed its deadline (timeout_ms 2000) and was cancelled", runID)
	require.Equal(t, flow.RunStateCancelled, run.State)
	require.Equal(t, reason, run.CancelReason)
	nodes := b.nodes(t, runID)
	require.Equal(t, "cancelled", nodes["slow"].State, "the sleeping node was cancelled, not completed")
	require.Equal(t, "cancelled", nodes["after"].State)
	require.Equal(t, "htdag: "+reason, nodes["after"].LastError)
	require.Equal(t, "cancelled", nodes["sub"].State)

	children := b.childRuns(t, runID)
	require.Len(t, children, 2)
	for _, c := range children {
		c = b.runEnded(t, c.ID)
		require.Equal(t, flow.RunStateCancelled, c.State, "child run %d", c.ID)
		require.Equal(t, reason, c.CancelReason, "child run %d", c.ID)
		for id, n := range b.nodes(t, c.ID) {
			require.Equal(t, "cancelled", n.State, "node %s of child run %d", id, c.ID)
		}
	}
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	// flow.runs shows the deadline and the reason.
	var timeout int
	var shown string
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT timeout_ms, cancel_reason FROM flow.runs WHERE id = $1", runID).
		Scan(&timeout, &shown))
	require.Equal(t, 2000, timeout)
	require.Equal(t, reason, shown)
}

// The Go builder's Timeout is the spec's "timeout_ms"; a plain Cancel keeps
// its own words and is recorded as the reason.
func TestRunDeadlineFromGoAndPlainCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("go deadline").Timeout(1500 * time.Millisecond)
	w.Add("slow", jobs.SleepArgs{MS: 60000})
	spec, err := w.Spec()
	require.NoError(t, err)
	require.Equal(t, int64(1500), spec.TimeoutMS)
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	run := b.runEnded(t, runID)
	require.Equal(t, flow.RunStateCancelled, run.State)
	require.Equal(t, fmt.Sprintf("run %d passed its deadline (timeout_ms 1500) and was cancelled", runID), run.CancelReason)
	require.Equal(t, "cancelled", b.states(t, runID)["slow"])

	// A user's cancel: the words it always had.
	plain := b.startSQL(t, fmt.Sprintf(`{"nodes": [{"id": "a", "kind": "noop", "at": %q}]}`,
		time.Now().Add(time.Hour).Format(time.RFC3339)))
	_, err = b.flow.Cancel(b.ctx, plain)
	require.NoError(t, err)
	run = b.getRun(t, plain)
	require.Equal(t, flow.RunStateCancelled, run.State)
	require.Equal(t, fmt.Sprintf("run %d was cancelled", plain), run.CancelReason)
	require.Equal(t, fmt.Sprintf("htdag: run %d was cancelled", plain), b.nodes(t, plain)["a"].LastError)
	require.Zero(t, run.TimeoutMS)
	require.Nil(t, run.DeadlineAt)
}

// A child run's own deadline cancels only that child run: its node fails
// with an error naming the deadline, and the parent run's trigger rules
// decide the rest (a cleanup node on all_done runs; the run ends failed, not
// cancelled).
func TestChildRunDeadlineFailsItsNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	sub := flow.New("slow child").Timeout(time.Second)
	sub.Add("inner", jobs.SleepArgs{MS: 60000})
	w := flow.New("parent")
	s := w.AddWorkflow("sub", sub)
	w.Add("cleanup", jobs.NoopArgs{}, flow.After(s), flow.WithTrigger(flow.TriggerAllDone))
	w.Add("next", jobs.NoopArgs{}, flow.After(s))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	require.Nil(t, b.getRun(t, runID).DeadlineAt, "the deadline is the child run's, not the parent's")

	run := b.runEnded(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	require.Empty(t, run.CancelReason)
	children := b.childRuns(t, runID)
	require.Len(t, children, 1)
	child := children[0]
	require.Equal(t, flow.RunStateCancelled, child.State)
	require.Equal(t, int64(1000), child.TimeoutMS)
	reason := fmt.Sprintf("run %d passed its deadline (timeout_ms 1000) and was cancelled", child.ID)
	require.Equal(t, reason, child.CancelReason)
	require.Equal(t, "cancelled", b.states(t, child.ID)["inner"])

	nodes := b.nodes(t, runID)
	require.Equal(t, "cancelled", nodes["sub"].State)
	require.Equal(t, "htdag: sub-"+reason, nodes["sub"].LastError)
	require.Equal(t, "completed", nodes["cleanup"].State, "all_done runs after the child run's deadline")
	require.Equal(t, "cancelled", nodes["next"].State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	// Retrying the top run resumes the child run with a fresh deadline of
	// its own, which cancels it again.
	_, err = b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	resumed := b.getRun(t, child.ID)
	require.False(t, resumed.State.Finished())
	require.Empty(t, resumed.CancelReason)
	require.True(t, resumed.DeadlineAt.After(*child.DeadlineAt))
	require.Equal(t, flow.RunStateFailed, b.runEnded(t, runID).State)
	require.Equal(t, reason, b.getRun(t, child.ID).CancelReason)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Each child run of a mapped workflow has the workflow's deadline.
func TestMappedWorkflowDeadlinePerItem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	runID := b.startSQL(t, `{"nodes": [
		{"id": "items", "kind": "range", "args": {"n": 2}},
		{"id": "each", "map": "items", "workflow": {"timeout_ms": 1000, "nodes": [
			{"id": "s", "kind": "sleep", "args": {"ms": 60000}}]}}]}`)
	run := b.runEnded(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	var perItem int
	for _, c := range b.childRuns(t, runID) {
		if c.TimeoutMS == 0 {
			continue // the map's own run
		}
		perItem++
		require.Equal(t, flow.RunStateCancelled, c.State)
		require.Equal(t, fmt.Sprintf("run %d passed its deadline (timeout_ms 1000) and was cancelled", c.ID), c.CancelReason)
	}
	require.Equal(t, 2, perItem)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// flow.retry of a run cancelled by its deadline gives it its whole budget
// again, counted from the retry: a new deadline job, no reason left, and
// (the node still sleeping too long) a second cancel at the new deadline.
func TestRetryGivesAFreshDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	runID := b.startSQL(t, `{"timeout_ms": 1000, "nodes": [{"id": "slow", "kind": "sleep", "args": {"ms": 60000}}]}`)
	first := b.runEnded(t, runID)
	require.Equal(t, flow.RunStateCancelled, first.State)
	var firstJob int64
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT deadline_job_id FROM flow.run WHERE id = $1", runID).Scan(&firstJob))

	n, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	retried := b.getRun(t, runID)
	require.Empty(t, retried.CancelReason)
	require.True(t, retried.DeadlineAt.After(*first.DeadlineAt), "a fresh deadline, from the retry")
	var secondJob int64
	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT r.deadline_job_id, j.state::text FROM flow.run r JOIN river_job j ON j.id = r.deadline_job_id WHERE r.id = $1`,
		runID).Scan(&secondJob, &state))
	require.NotEqual(t, firstJob, secondJob)
	require.Contains(t, []string{"scheduled", "available", "running", "completed"}, state)

	// The first deadline job, run again by hand, is stale: it does nothing.
	var did bool
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.cancel_at_deadline($1, $2)", runID, firstJob).Scan(&did))
	require.False(t, did)

	again := b.runEnded(t, runID)
	require.Equal(t, flow.RunStateCancelled, again.State)
	require.Equal(t, fmt.Sprintf("run %d passed its deadline (timeout_ms 1000) and was cancelled", runID), again.CancelReason)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A run that finishes before its deadline deletes its deadline job; the
// deadline job is never a node of the run.
func TestRunFinishingFirstDropsItsDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"timeout_ms": 3600000, "queue": "elsewhere", "nodes": [{"id": "a", "kind": "noop"}]}`)
	var jobID int64
	var kind, queue, state string
	var args []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT j.id, j.kind, j.queue, j.state::text, j.args::text FROM flow.run r JOIN river_job j ON j.id = r.deadline_job_id
		 WHERE r.id = $1`, runID).Scan(&jobID, &kind, &queue, &state, &args))
	require.Equal(t, flow.DeadlineKind, kind)
	require.Equal(t, "elsewhere", queue, "the spec's queue")
	require.Equal(t, "scheduled", state)
	require.JSONEq(t, fmt.Sprintf(`{"run_id": %d}`, runID), string(args))
	require.Equal(t, 1, b.getRun(t, runID).NodeCount)
	require.Len(t, b.nodes(t, runID), 1)

	b.complete(t, runID, "a")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, runID).State)
	var left int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM river_job WHERE id = $1", jobID).Scan(&left))
	require.Zero(t, left, "the finished run's deadline job is gone")
	var did bool
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.cancel_at_deadline($1, $2)", runID, jobID).Scan(&did))
	require.False(t, did, "a finished run is left alone")
	require.Equal(t, flow.RunStateCompleted, b.getRun(t, runID).State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)

	// A run cancelled early loses its deadline job too; retried, it gets a
	// new one, on its spec's queue still.
	other := b.startSQL(t, `{"timeout_ms": 3600000, "queue": "elsewhere", "nodes": [{"id": "a", "kind": "noop"}]}`)
	_, err := b.flow.Cancel(b.ctx, other)
	require.NoError(t, err)
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM flow.run r JOIN river_job j ON j.id = r.deadline_job_id WHERE r.id = $1`, other).Scan(&left))
	require.Zero(t, left)
	_, err = b.flow.Retry(b.ctx, other)
	require.NoError(t, err)
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT j.queue, j.state::text FROM flow.run r JOIN river_job j ON j.id = r.deadline_job_id WHERE r.id = $1`,
		other).Scan(&queue, &state))
	require.Equal(t, "elsewhere", queue)
	require.Equal(t, "scheduled", state)
}

// A "timeout_ms" that is not a positive integer is refused, naming it, and
// nothing is written; so is a deadline job's kind on a node.
func TestRunDeadlineBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const msg = `"timeout_ms" (the run's deadline) must be an integer from 1 to 2147483647 (milliseconds)`
	for _, bad := range []string{`0`, `-5`, `1.5`, `"soon"`, `null`, `true`, `2147483648`} {
		_, err := b.pool.Exec(b.ctx, "SELECT flow.start($1::jsonb)",
			`{"timeout_ms": `+bad+`, "nodes": [{"id": "a", "kind": "noop"}]}`)
		require.ErrorContains(t, err, "invalid workflow spec: "+msg, bad)
		_, err = b.pool.Exec(b.ctx, "SELECT flow.start($1::jsonb)",
			`{"nodes": [{"id": "s", "workflow": {"timeout_ms": `+bad+`, "nodes": [{"id": "a", "kind": "noop"}]}}]}`)
		require.ErrorContains(t, err, `invalid workflow spec: node "s": workflow: `+msg, bad)
	}
	_, err := b.pool.Exec(b.ctx, "SELECT flow.start($1::jsonb)", `{"nodes": [{"id": "a", "kind": "flow.run_deadline"}]}`)
	require.ErrorContains(t, err, `kind "flow.run_deadline" is htdag's own`)
	requireNoRows(t, b.ctx, b.pool)

	_, err = flow.New("x").Timeout(0).Spec()
	require.ErrorContains(t, err, "run timeout 0s: must be at least 1ms")
	_, err = flow.New("x").Timeout(time.Microsecond).Spec()
	require.ErrorContains(t, err, "must be at least 1ms")
}

// An expansion's spec may carry its own deadline, as a sub-workflow's does.
func TestExpansionDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	runID := b.startSQL(t, `{"nodes": [{"id": "x", "kind": "expand_json", "args": {"spec":
		{"timeout_ms": 1000, "nodes": [{"id": "s", "kind": "sleep", "args": {"ms": 60000}}]}}}]}`)
	run := b.runEnded(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	children := b.childRuns(t, runID)
	require.Len(t, children, 1)
	reason := fmt.Sprintf("run %d passed its deadline (timeout_ms 1000) and was cancelled", children[0].ID)
	require.Equal(t, reason, children[0].CancelReason)
	require.Equal(t, "htdag: sub-"+reason, b.nodes(t, runID)["x"].LastError)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A flow.run_deadline job that flow.start did not insert for the run it
// names (any River client may insert one) does nothing.
func TestForgedDeadlineJobDoesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"timeout_ms": 3600000, "nodes": [{"id": "a", "kind": "sleep", "args": {"ms": 60000}}]}`)

	res, err := insertOnlyRiver(t, b.pool).Insert(b.ctx, flow.DeadlineArgs{RunID: runID}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var state string
		require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT state::text FROM river_job WHERE id = $1", res.Job.ID).Scan(&state))
		return state == "completed"
	}, deadlineWait, 20*time.Millisecond, "the forged job was never worked")
	run := b.getRun(t, runID)
	require.False(t, run.State.Finished(), "the run goes on")
	require.Empty(t, run.CancelReason)

	_, err = b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	b.runEnded(t, runID)
}

// flow.fire_due_timers (every fleet member, each second) makes htdag's due
// timer jobs available and wakes their queues, without waiting for River's
// scheduler (its leader's, every 5 s): due deadline and wait-timeout jobs
// move; one not yet due, and due jobs of other kinds (River's to move), stay.
func TestFireDueTimersMovesOnlyDueHtdagTimers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	insert := func(kind string, in time.Duration) int64 {
		var id int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at)
			VALUES ('{}', $1, 1, 'default', 'scheduled', now() + $2::interval) RETURNING id`, kind, in.String()).Scan(&id))
		return id
	}
	dueDeadline := insert("flow.run_deadline", -time.Second)
	dueWait := insert("flow.wait", -time.Second)
	laterDeadline := insert("flow.run_deadline", time.Hour)
	dueOther := insert("noop", -time.Second)

	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.fire_due_timers()").Scan(&n))
	require.Equal(t, 2, n)
	rows, err := b.pool.Query(b.ctx, "SELECT id, state::text FROM river_job")
	require.NoError(t, err)
	states := map[int64]string{}
	var (
		id    int64
		state string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error { states[id] = state; return nil })
	require.NoError(t, err)
	require.Equal(t, map[int64]string{dueDeadline: "available", dueWait: "available", laterDeadline: "scheduled", dueOther: "scheduled"}, states)
}
