package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// skipArgs is a node that skips itself with Reason when it is set, and
// completes otherwise (kind "skipper").
type skipArgs struct {
	Reason string `json:"reason"`
}

func (skipArgs) Kind() string { return "skipper" }

type skipWorker struct {
	river.WorkerDefaults[skipArgs]
}

func (*skipWorker) Work(ctx context.Context, job *river.Job[skipArgs]) error {
	if job.Args.Reason != "" {
		if err := flow.SetOutput(ctx, "ignored once skipped"); err != nil {
			return err
		}
		return flow.Skip(ctx, job.Args.Reason)
	}
	return flow.SetOutput(ctx, "ran")
}

// statesArgs is a node whose output is its parents' states (kind "states").
type statesArgs struct{}

func (statesArgs) Kind() string { return "states" }

type statesWorker struct {
	river.WorkerDefaults[statesArgs]
}

func (*statesWorker) Work(ctx context.Context, _ *river.Job[statesArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	return flow.SetOutput(ctx, in.States)
}

// nodeStates returns the run's node states as flow.nodes reports them
// (skipped for a skipped node), keyed by node id.
func (b *testBundle) nodeStates(t *testing.T, runID int64) map[string]flow.NodeState {
	t.Helper()
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	out := map[string]flow.NodeState{}
	for _, n := range nodes {
		out[n.NodeID] = n.State
	}
	return out
}

// discard is a node that is discarded at its only attempt.
const discard = `"kind": "fail", "args": {"times": 1}, "max_attempts": 1`

// An alert node (one_failed) runs as soon as one of its 100 parents is
// discarded, while the others complete; it reads each parent's state. The
// run fails (a node failed), with the alert completed.
func TestOneFailedRunsWhenOneOfAHundredParentsFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	var nodes, deps []string
	for i := range 100 {
		id := fmt.Sprintf("p%02d", i)
		deps = append(deps, `"`+id+`"`)
		if i == 37 {
			nodes = append(nodes, fmt.Sprintf(`{"id": %q, %s}`, id, discard))
		} else {
			nodes = append(nodes, fmt.Sprintf(`{"id": %q, "kind": "noop"}`, id))
		}
	}
	nodes = append(nodes, `{"id": "alert", "kind": "states", "trigger": "one_failed", "deps": [`+strings.Join(deps, ",")+`]}`,
		`{"id": "after_alert", "kind": "noop", "deps": ["alert"]}`)
	runID := b.startSQL(t, `{"name": "alerting", "nodes": [`+strings.Join(nodes, ",")+`]}`)

	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	st := b.nodeStates(t, runID)
	require.Equal(t, flow.NodeStateCompleted, st["alert"])
	require.Equal(t, flow.NodeStateCompleted, st["after_alert"])
	require.Equal(t, flow.NodeStateDiscarded, st["p37"])

	var seen map[string]flow.NodeState
	require.NoError(t, json.Unmarshal(b.nodes(t, runID)["alert"].Output, &seen))
	require.Equal(t, flow.NodeStateDiscarded, seen["p37"])
	require.Len(t, seen, 100)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// one_failed with no failure is skipped, and so are its all_success
// children; the run completes.
func TestOneFailedIsSkippedWhenNothingFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"},
		{"id": "alert", "kind": "noop", "trigger": "one_failed", "deps": ["a", "b"]},
		{"id": "page", "kind": "noop", "deps": ["alert"]}]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"a": "completed", "b": "completed", "alert": "skipped", "page": "skipped"}, b.nodeStates(t, runID))
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	reasons := map[string]string{}
	for _, n := range nodes {
		reasons[n.NodeID] = n.SkipReason
	}
	require.Equal(t, "htdag: skipped: no parent failed (trigger one_failed)", reasons["alert"])
	require.Equal(t, "htdag: skipped because a parent was skipped", reasons["page"])
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A cleanup node (all_done) runs after a branch was cancelled by a failure
// above it, and after the other branch completed; the node below the
// failure is cancelled as before. The run fails.
func TestAllDoneRunsAfterACancelledBranch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"nodes": [
		{"id": "setup", "kind": "noop"},
		{"id": "bad", `+discard+`, "deps": ["setup"]},
		{"id": "below_bad", "kind": "noop", "deps": ["bad"]},
		{"id": "good", "kind": "noop", "deps": ["setup"]},
		{"id": "cleanup", "kind": "states", "trigger": "all_done", "deps": ["below_bad", "good"]}]}`)
	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	require.Equal(t, map[string]flow.NodeState{"setup": "completed", "bad": "discarded", "below_bad": "cancelled",
		"good": "completed", "cleanup": "completed"}, b.nodeStates(t, runID))
	var seen map[string]flow.NodeState
	require.NoError(t, json.Unmarshal(b.nodes(t, runID)["cleanup"].Output, &seen))
	require.Equal(t, map[string]flow.NodeState{"below_bad": "cancelled", "good": "completed"}, seen)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// An all_done node also runs when the run is not failing: a cleanup after a
// skipped branch, and none_failed runs below a skipped parent (all_success
// would be skipped).
func TestNoneFailedRunsBelowASkippedParent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"input": {"deploy": false}, "nodes": [
		{"id": "build", "kind": "noop"},
		{"id": "deploy", "kind": "noop", "deps": ["build"], "if": "$.input.deploy == true"},
		{"id": "smoke", "kind": "noop", "deps": ["deploy"]},
		{"id": "notify", "kind": "states", "trigger": "none_failed", "deps": ["build", "deploy"]},
		{"id": "cleanup", "kind": "noop", "trigger": "all_done", "deps": ["smoke"]}]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"build": "completed", "deploy": "skipped", "smoke": "skipped",
		"notify": "completed", "cleanup": "completed"}, b.nodeStates(t, runID))
	var seen map[string]flow.NodeState
	require.NoError(t, json.Unmarshal(b.nodes(t, runID)["notify"].Output, &seen))
	require.Equal(t, map[string]flow.NodeState{"build": "completed", "deploy": "skipped"}, seen)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// An "if" over a parent's output that is false skips the node and the whole
// subtree below it (all_success); the branch whose "if" holds runs, and the
// run completes. The reason names the condition.
func TestIfFalseSkipsASubtree(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"input": {"lang": "go"}, "nodes": [
		{"id": "scan", "kind": "echo", "args": {"issues": 3}},
		{"id": "fix", "kind": "noop", "deps": ["scan"], "if": "$.parents.scan.args.issues > 5"},
		{"id": "fix2", "kind": "noop", "deps": ["fix"]},
		{"id": "fix3", "kind": "noop", "deps": ["fix2"]},
		{"id": "report", "kind": "noop", "deps": ["scan"], "if": "$.input.lang == \"go\" && $.states.scan == \"completed\""}]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"scan": "completed", "fix": "skipped", "fix2": "skipped", "fix3": "skipped",
		"report": "completed"}, b.nodeStates(t, runID))
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	for _, n := range nodes {
		if n.NodeID == "fix" {
			require.Equal(t, `htdag: skipped: condition "$.parents.scan.args.issues > 5" is false`, n.SkipReason)
			require.Nil(t, n.Output)
		}
	}
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A condition that finds nothing or yields no boolean skips the node rather
// than failing anything, and says so.
func TestIfThatIsNotABooleanSkips(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"], "if": "$.parents.a.missing"}]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.NodeStateSkipped, nodes[1].State)
	require.Contains(t, nodes[1].SkipReason, "is not true or false")
}

// flow.Skip at run time: the node is skipped (its SetOutput ignored), its
// all_success child is skipped, its none_failed child runs.
func TestSkipAtRunTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"nodes": [
		{"id": "check", "kind": "skipper", "args": {"reason": "no files changed"}},
		{"id": "build", "kind": "noop", "deps": ["check"]},
		{"id": "report", "kind": "skipper", "trigger": "none_failed", "deps": ["check"]}]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"check": "skipped", "build": "skipped", "report": "completed"}, b.nodeStates(t, runID))
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, "no files changed", nodes[0].SkipReason)
	require.Nil(t, nodes[0].Output, "a skipped node has no output")
	require.JSONEq(t, `"ran"`, string(nodes[2].Output))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// A skipped sub-workflow node starts no child run, and a skipped map runs no
// element; below a child run, rules work the same.
func TestSkipThroughHierarchy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	runID := b.startSQL(t, `{"nodes": [
		{"id": "gate", "kind": "skipper", "args": {"reason": "nothing to do"}},
		{"id": "sub", "deps": ["gate"], "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}},
		{"id": "items", "kind": "items", "args": {"items": [1, 2, 3]}},
		{"id": "each", "map": "items", "kind": "noop", "if": "$.states.items == \"skipped\""},
		{"id": "child", "deps": ["items"], "workflow": {"nodes": [
			{"id": "c1", "kind": "skipper", "args": {"reason": "inner skip"}},
			{"id": "c2", "kind": "noop", "deps": ["c1"]},
			{"id": "c3", "kind": "noop", "trigger": "all_done", "deps": ["c2"]}]}}]}`)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"gate": "skipped", "sub": "skipped", "items": "completed", "each": "skipped",
		"child": "completed"}, b.nodeStates(t, runID))
	var childRuns int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow.run WHERE parent_run_id = $1`, runID).Scan(&childRuns))
	require.Equal(t, 1, childRuns, "only the node that ran started a child run")
	tree, err := b.flow.Tree(b.ctx, runID)
	require.NoError(t, err)
	inner := map[string]flow.NodeState{}
	for _, n := range tree {
		if strings.HasPrefix(n.Path, "child/") {
			inner[n.NodeID] = n.State
		}
	}
	require.Equal(t, map[string]flow.NodeState{"c1": "skipped", "c2": "skipped", "c3": "completed"}, inner)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)
}

// flakyArgs is a node that fails while its key is in failing (kind "flaky").
type flakyArgs struct {
	Key string `json:"key"`
}

func (flakyArgs) Kind() string { return "flaky" }

var failing sync.Map

type flakyWorker struct {
	river.WorkerDefaults[flakyArgs]
}

func (*flakyWorker) Work(_ context.Context, job *river.Job[flakyArgs]) error {
	if _, ok := failing.Load(job.Args.Key); ok {
		return fmt.Errorf("flaky: %s is failing", job.Args.Key)
	}
	return nil
}

// Retrying a failed run whose alert node ran: the failed node and the one
// cancelled below it run again; the alert, already completed, does not. The
// run then completes.
func TestRetryWithTriggerRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	key := t.Name()
	failing.Store(key, true)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "flaky", "kind": "flaky", "args": {"key": "`+key+`"}, "max_attempts": 1},
		{"id": "below", "kind": "tally", "deps": ["flaky"]},
		{"id": "alert", "kind": "tally", "trigger": "one_failed", "deps": ["flaky"]}]}`)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"flaky": "discarded", "below": "cancelled", "alert": "completed"}, b.nodeStates(t, runID))

	failing.Delete(key)
	_, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"flaky": "completed", "below": "completed", "alert": "completed"}, b.nodeStates(t, runID))
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}

// Bad rules and conditions are refused at start, naming the node, and
// nothing is written.
func TestTriggerAndIfAreChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for spec, want := range map[string]string{
		`{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"], "trigger": "any"}]}`:    `node "b": "trigger" must be one of all_success, all_done, one_failed, none_failed`,
		`{"nodes": [{"id": "a", "kind": "noop", "trigger": "all_done"}]}`:                                           `node "a" has a "trigger" but no "deps"`,
		`{"nodes": [{"id": "a", "kind": "noop", "if": "$.input.x"}]}`:                                               `node "a" has an "if" but no "deps"`,
		`{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"], "if": 3}]}`:             `node "b": "if" must be a JSON path predicate`,
		`{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"], "if": "$.input ==="}]}`: `node "b": "if" is not a JSON path: syntax error`,
	} {
		_, err := b.flow.Start(b.ctx, flow.JSONSpec(spec))
		require.ErrorContains(t, err, want, spec)
	}
	var runs int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.run").Scan(&runs))
	require.Zero(t, runs)
}

// The Go builder writes the rule and the condition.
func TestBuilderTriggerAndIf(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())
	w := flow.New("builder")
	a := w.Add("a", jobs.FailArgs{Times: 1}, flow.WithMaxAttempts(1))
	w.Add("alert", jobs.NoopArgs{}, flow.After(a), flow.WithTrigger(flow.TriggerOneFailed))
	w.Add("never", jobs.NoopArgs{}, flow.After(a), flow.WithTrigger(flow.TriggerAllDone), flow.WithIf(`$.states.a == "completed"`))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)
	require.Equal(t, map[string]flow.NodeState{"a": "discarded", "alert": "completed", "never": "skipped"}, b.nodeStates(t, runID))
	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.TriggerOneFailed, nodes[1].TriggerRule)
	require.Equal(t, `$.states.a == "completed"`, nodes[2].Condition)
}

// one_failed runs as soon as one parent failed, while another parent is
// still running.
func TestOneFailedRunsWhileOtherParentsRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	startRiver(t, b.pool, tw)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "bad", `+discard+`},
		{"id": "slow", "kind": "gate"},
		{"id": "alert", "kind": "noop", "trigger": "one_failed", "deps": ["bad", "slow"]}]}`)
	require.Eventually(t, func() bool {
		st := b.nodeStates(t, runID)
		return st["alert"] == flow.NodeStateCompleted
	}, testTimeout/2, 10*time.Millisecond, "the alert did not run while slow was running")
	require.Equal(t, flow.NodeStateRunning, b.nodeStates(t, runID)["slow"])
	close(tw.gate.open)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)
	flowtest.RequireInvariants(b.ctx, t, b.pool, runID)
}
