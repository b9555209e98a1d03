package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/jobs"
)

// rangeArgs is a node whose output is [0, 1, ..., N-1], or Raw when set
// (kind "range").
type rangeArgs struct {
	N   int             `json:"n"`
	Raw json.RawMessage `json:"raw,omitempty"`
}

func (rangeArgs) Kind() string { return "range" }

type rangeWorker struct {
	river.WorkerDefaults[rangeArgs]
}

func (*rangeWorker) Work(ctx context.Context, job *river.Job[rangeArgs]) error {
	if job.Args.Raw != nil {
		return flow.SetOutput(ctx, job.Args.Raw)
	}
	out := make([]int, job.Args.N)
	for i := range out {
		out[i] = i
	}
	return flow.SetOutput(ctx, out)
}

// squareArgs is a node whose output is the square of its item (kind
// "square"): a map element's item, or its run input when that is a number,
// or the "item" of its run input (the child run of an expanded element).
// The element equal to ExpandAt expands into a one-node sub-DAG that squares
// it instead; the element equal to FailAt fails while the worker's failing
// flag is set.
type squareArgs struct {
	ExpandAt *int `json:"expand_at,omitempty"`
	FailAt   *int `json:"fail_at,omitempty"`
}

func (squareArgs) Kind() string { return "square" }

type squareWorker struct {
	river.WorkerDefaults[squareArgs]
	failing atomic.Bool
	works   [1000]atomic.Int64 // attempts per item
}

func (w *squareWorker) Work(ctx context.Context, job *river.Job[squareArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var item int
	switch {
	case in.Item != nil:
		err = json.Unmarshal(in.Item, &item)
	case len(in.Input) > 0 && in.Input[0] != '{':
		err = json.Unmarshal(in.Input, &item)
	default:
		var wrapped struct {
			Item *int `json:"item"`
		}
		err = json.Unmarshal(in.Input, &wrapped)
		if err == nil && wrapped.Item == nil {
			err = errors.New("square: no item")
		}
		if err == nil {
			item = *wrapped.Item
		}
	}
	if err != nil {
		return fmt.Errorf("square: reading the item: %w", err)
	}
	w.works[item%len(w.works)].Add(1)
	if job.Args.FailAt != nil && *job.Args.FailAt == item && w.failing.Load() {
		return fmt.Errorf("square: planned failure at %d", item)
	}
	if job.Args.ExpandAt != nil && *job.Args.ExpandAt == item && in.Item != nil {
		sub := flow.New(fmt.Sprintf("square %d", item))
		sub.Output(sub.Add("inner", squareArgs{}))
		return flow.Expand(ctx, sub)
	}
	return flow.SetOutput(ctx, item*item)
}

// totalArgs is a node whose output is {"sum": N}, the sum of its parents'
// outputs, which are arrays of integers (kind "total").
type totalArgs struct{}

func (totalArgs) Kind() string { return "total" }

type totalWorker struct {
	river.WorkerDefaults[totalArgs]
}

func (*totalWorker) Work(ctx context.Context, _ *river.Job[totalArgs]) error {
	in, err := flow.Inputs(ctx)
	if err != nil {
		return err
	}
	var sum int64
	for id, raw := range in.Parents {
		var xs []int64
		if err := json.Unmarshal(raw, &xs); err != nil {
			return fmt.Errorf("total: parent %q: %w", id, err)
		}
		for _, x := range xs {
			sum += x
		}
	}
	return flow.SetOutput(ctx, jobs.SumOutput{Sum: sum})
}

func intPtr(i int) *int { return &i }

// treeByPath returns flow.tree's rows keyed by path.
func (b *testBundle) treeByPath(t *testing.T, runID int64) map[string]*flow.TreeNode {
	t.Helper()
	nodes, err := b.flow.Tree(b.ctx, runID)
	require.NoError(t, err)
	out := make(map[string]*flow.TreeNode, len(nodes))
	for _, n := range nodes {
		out[n.Path] = n
	}
	return out
}

// The acceptance run: a sub-workflow node whose child run maps over
// 100 elements, one of which expands again, with outputs checked at every
// level.
func TestThreeLevelRunWithMapAndExpansion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	startRiver(t, b.pool, tw)

	inner := flow.New("squares")
	gen := inner.Add("gen", rangeArgs{N: 100})
	m := inner.AddMap("m", gen, squareArgs{ExpandAt: intPtr(42)})
	inner.Output(inner.Add("total", totalArgs{}, flow.After(m)))
	top := flow.New("three levels")
	sub := top.AddWorkflow("sub", inner)
	top.Add("check", jobs.EchoArgs{}, flow.After(sub))

	runID, err := b.flow.Start(b.ctx, top)
	require.NoError(t, err)
	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

	tree := b.treeByPath(t, runID)
	require.Len(t, tree, 2+3+100+1, "top run, sub's run, the map's run, element 42's expansion")

	// Level 4: element 42's expansion squared it.
	require.Equal(t, 3, tree["sub/m/42/inner"].Depth)
	require.JSONEq(t, `1764`, string(tree["sub/m/42/inner"].Output))
	require.NotNil(t, tree["sub/m/42"].ChildRunID)
	require.JSONEq(t, `1764`, string(tree["sub/m/42"].Output), "an expanded node's output is its child run's")

	// Level 3: the map's output is every element's result in element order.
	want := make([]int, 100)
	var sum int
	for i := range want {
		want[i] = i * i
		sum += i * i
		require.Equal(t, flow.RunStateCompleted, tree[fmt.Sprintf("sub/m/%d", i)].RunState)
	}
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	require.JSONEq(t, string(wantJSON), string(tree["sub/m"].Output))

	// Level 2: the sub-workflow's output is its "output" node's.
	require.JSONEq(t, fmt.Sprintf(`{"sum": %d}`, sum), string(tree["sub/total"].Output))
	require.JSONEq(t, fmt.Sprintf(`{"sum": %d}`, sum), string(tree["sub"].Output))

	// Level 1: the sub-workflow node's children see that output.
	var echo jobs.EchoOutput
	require.NoError(t, json.Unmarshal(tree["check"].Output, &echo))
	require.JSONEq(t, fmt.Sprintf(`{"sum": %d}`, sum), string(echo.Parents["sub"]))
	require.JSONEq(t, string(tree["check"].Output), string(mustField(t, run.Output, "check")))

	// Each element was worked once; 42 twice (the element, then its inner node).
	for i := range 100 {
		want := int64(1)
		if i == 42 {
			want = 2
		}
		require.Equal(t, want, tw.square.works[i].Load(), "works of item %d", i)
	}

	// flow.runs lists the child runs with their parents.
	var children, maxDepth int
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"SELECT count(*), max(depth) FROM flow.runs WHERE top_run_id = $1 AND parent_run_id IS NOT NULL", runID).
		Scan(&children, &maxDepth))
	require.Equal(t, 3, children)
	require.Equal(t, 3, maxDepth)
}

func mustField(t *testing.T, obj json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(obj, &m))
	v, ok := m[key]
	require.True(t, ok, "no %q in %s", key, obj)
	return v
}

// A task failing three levels down fails every level above it by the usual
// rules; the tree shows where; flow.retry on the top run reruns only the
// failed element and what waited for it.
func TestFailureThreeLevelsDownThenRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	tw.square.failing.Store(true)
	startRiver(t, b.pool, tw)

	inner := flow.New("inner")
	gen := inner.Add("gen", rangeArgs{N: 5})
	inner.AddMap("m", gen, squareArgs{FailAt: intPtr(3)}, flow.WithMaxAttempts(1))
	top := flow.New("deep failure")
	sub := top.AddWorkflow("sub", inner)
	top.Add("after", tallyArgs{}, flow.After(sub))
	top.Add("independent", tallyArgs{})

	runID, err := b.flow.Start(b.ctx, top)
	require.NoError(t, err)
	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateFailed, run.State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

	tree := b.treeByPath(t, runID)
	require.Equal(t, flow.NodeStateDiscarded, tree["sub/m/3"].State)
	require.Contains(t, tree["sub/m/3"].LastError, "square: planned failure at 3")
	for _, i := range []int{0, 1, 2, 4} {
		require.Equal(t, flow.NodeStateCompleted, tree[fmt.Sprintf("sub/m/%d", i)].State)
	}
	require.Equal(t, flow.NodeStateDiscarded, tree["sub/m"].State)
	require.Equal(t, flow.NodeStateDiscarded, tree["sub"].State)
	require.Equal(t, flow.NodeStateCancelled, tree["after"].State)
	require.Equal(t, flow.NodeStateCompleted, tree["independent"].State, "an independent branch goes on")
	// The top node's error reads as a path down to the failed task.
	require.Regexp(t, `sub-run \d+ failed: node "m" discarded: htdag: sub-run \d+ failed: node "3" discarded: square: planned failure at 3`,
		tree["sub"].LastError)
	require.Equal(t, flow.RunStateFailed, tree["sub/gen"].RunState)
	require.Equal(t, flow.RunStateFailed, tree["sub/m/3"].RunState)

	// Retry from the top: only element 3 runs again, then what waited.
	tw.square.failing.Store(false)
	reset, err := b.flow.Retry(b.ctx, runID)
	require.NoError(t, err)
	require.Equal(t, 4, reset, "sub/m/3, sub/m, sub and after")
	run = b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

	tree = b.treeByPath(t, runID)
	require.JSONEq(t, `[0, 1, 4, 9, 16]`, string(tree["sub/m"].Output))
	require.Equal(t, int64(2), tw.square.works[3].Load())
	for _, i := range []int{0, 1, 2, 4} {
		require.Equal(t, int64(1), tw.square.works[i].Load(), "item %d", i)
	}
	require.Equal(t, int64(2), tw.tally.works.Load(), "after and independent, once each")
	require.Equal(t, 1, tree["sub/gen"].Attempt)
}

// Cancelling a top run cancels its whole tree, running nodes included.
func TestCancelCancelsTheWholeTree(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	startRiver(t, b.pool, tw)

	level3 := flow.New("level 3")
	level3.Add("gate", gateArgs{})
	level2 := flow.New("level 2")
	level2.AddWorkflow("deeper", level3)

	top := flow.New("cancel tree")
	s := top.AddWorkflow("sub", level2)
	top.Add("after", tallyArgs{}, flow.After(s))
	runID, err := b.flow.Start(b.ctx, top)
	require.NoError(t, err)

	require.Eventually(t, func() bool { return tw.gate.started.Load() == 1 }, testTimeout/2, time.Millisecond,
		"the gate three levels down starts")
	ok, err := b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, flow.RunStateCancelled, b.wait(t, runID).State)

	tree := b.treeByPath(t, runID)
	// The running gate stops through River's cancel; wait for its run too.
	gateRun := tree["sub/deeper/gate"].RunID
	require.Equal(t, flow.RunStateCancelled, b.wait(t, gateRun).State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

	tree = b.treeByPath(t, runID)
	for path, n := range tree {
		require.Equal(t, flow.NodeStateCancelled, n.State, path)
		require.Equal(t, flow.RunStateCancelled, n.RunState, path)
	}
	require.Zero(t, tw.tally.works.Load())
}

// A map over an empty array completes at once with []; over something that
// is not an array it fails, saying so.
func TestMapOverEmptyAndNonArray(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	startRiver(t, b.pool, tw)

	empty := flow.New("empty")
	gen := empty.Add("gen", rangeArgs{N: 0})
	m := empty.AddMap("m", gen, squareArgs{})
	empty.Add("after", jobs.EchoArgs{}, flow.After(m))
	runID, err := b.flow.Start(b.ctx, empty)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateCompleted, b.wait(t, runID).State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)
	tree := b.treeByPath(t, runID)
	require.JSONEq(t, `[]`, string(tree["m"].Output))
	require.Nil(t, tree["m"].ChildRunID, "nothing to run, no child run")
	require.Len(t, tree, 3)

	notArray := flow.New("not an array")
	gen = notArray.Add("gen", rangeArgs{Raw: json.RawMessage(`{"a": 1}`)})
	m = notArray.AddMap("m", gen, squareArgs{})
	notArray.Add("after", tallyArgs{}, flow.After(m))
	runID, err = b.flow.Start(b.ctx, notArray)
	require.NoError(t, err)
	require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)
	nodes := b.nodes(t, runID)
	require.Equal(t, "discarded", nodes["m"].State)
	require.Equal(t, `htdag: map node "m" cannot run: the output of node "gen" is not an array but object`, nodes["m"].LastError)
	require.Equal(t, "cancelled", nodes["after"].State)
}

// A map may follow a map, and a map may run a whole workflow per element.
func TestMapOfMapAndMapOfWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tw := newTestWorkers()
	startRiver(t, b.pool, tw)

	perElement := flow.New("per element")
	perElement.Output(perElement.Add("sq", squareArgs{}))

	w := flow.New("maps")
	gen := w.Add("gen", rangeArgs{N: 5})
	m1 := w.AddMap("m1", gen, squareArgs{})
	w.AddMap("m2", m1, squareArgs{})
	w.AddMapWorkflow("mw", gen, perElement)
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

	require.JSONEq(t, `[0, 1, 16, 81, 256]`, string(mustField(t, run.Output, "m2")))
	require.JSONEq(t, `[0, 1, 4, 9, 16]`, string(mustField(t, run.Output, "mw")))
	tree := b.treeByPath(t, runID)
	require.Equal(t, 2, tree["mw/3/sq"].Depth, "a mapped workflow runs one level below the map's run")
	require.JSONEq(t, `9`, string(tree["mw/3"].Output))
}

// The decompose kind: expansion to depth 10 and more, sums combined on the
// way back up.
func TestDecomposeSumsARange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("decompose")
	w.Output(w.Add("root", jobs.DecomposeArgs{From: 0, To: 100000, Threshold: 100}))
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)
	run := b.wait(t, runID)
	require.Equal(t, flow.RunStateCompleted, run.State)
	require.JSONEq(t, `{"sum": 4999950000}`, string(run.Output), "0 + 1 + ... + 99999")

	var runs, depth, problems int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*), max(depth), (SELECT count(*) FROM flow.check(NULL))
		  FROM flow.run WHERE root_run_id = $1`, runID).Scan(&runs, &depth, &problems))
	require.Equal(t, 1023, runs, "one child run per range of 100 or more")
	require.Equal(t, 10, depth)
	require.Zero(t, problems)
	var unfinished int
	require.NoError(t, b.pool.QueryRow(b.ctx,
		"SELECT count(*) FROM flow.run WHERE (id = $1 OR root_run_id = $1) AND state <> 'completed'", runID).Scan(&unfinished))
	require.Zero(t, unfinished)
}

// Expansion beyond the top run's limits cancels the expanding node with an
// error that names the limit; the run fails by the usual rules.
func TestExpansionLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	for _, tc := range []struct {
		name  string
		spec  *flow.Spec
		error string
	}{
		{"Depth", &flow.Spec{MaxDepth: 2}, `(max_depth of run `},
		{"TreeNodes", &flow.Spec{MaxTreeNodes: 10}, `(max_tree_nodes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, err := json.Marshal(jobs.DecomposeArgs{From: 0, To: 1000, Threshold: 10})
			require.NoError(t, err)
			spec := *tc.spec
			spec.Name = "limited"
			spec.Nodes = []flow.NodeSpec{{ID: "root", Kind: "decompose", Args: args}}
			runID, err := b.flow.Start(b.ctx, &spec)
			require.NoError(t, err)
			require.Equal(t, flow.RunStateFailed, b.wait(t, runID).State)

			// Wait for the rest of the tree (branches beside the failed one).
			rows, err := b.pool.Query(b.ctx, "SELECT id FROM flow.run WHERE root_run_id = $1", runID)
			require.NoError(t, err)
			for rows.Next() {
				var id int64
				require.NoError(t, rows.Scan(&id))
				b.wait(t, id)
			}
			require.NoError(t, rows.Err())
			flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

			var refused []string
			require.NoError(t, b.pool.QueryRow(b.ctx, `
				SELECT coalesce(array_agg(DISTINCT last_error), '{}') FROM flow.tree($1)
				 WHERE state = 'cancelled' AND last_error LIKE '%cannot expand%'`, runID).Scan(&refused))
			require.NotEmpty(t, refused)
			for _, msg := range refused {
				require.Contains(t, msg, tc.error)
			}
		})
	}
}

// Nested specs are checked at start, with messages that say where; a
// rejected spec writes nothing.
func TestStartRejectsInvalidNestedSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec, problem string
	}{
		{"NestedMissingKind", `{"nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x"}]}}]}`,
			`node "s": workflow: node "x" has no "kind" (a non-empty string), no "workflow" and no "wait"`},
		{"KindAndWorkflow", `{"nodes": [{"id": "s", "kind": "noop", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}]}`,
			`node "s" has both "kind" and "workflow": a node is either a task or a sub-workflow`},
		{"MapOverUnknown", `{"nodes": [{"id": "m", "map": "nope", "kind": "noop"}]}`,
			`node "m" maps over unknown node "nope"`},
		{"OutputUnknown", `{"output": "z", "nodes": [{"id": "a", "kind": "noop"}]}`,
			`"output" names unknown node "z"`},
		{"NestedKey", `{"nodes": [{"id": "s", "workflow": {"key": "k", "nodes": [{"id": "x", "kind": "noop"}]}}]}`,
			`node "s": workflow: unknown key "key" (allowed: name, input, nodes, queue, priority, max_attempts, at, output, timeout_ms, concurrency)`},
		{"MappedWorkflowInput", `{"nodes": [{"id": "g", "kind": "noop"}, {"id": "m", "map": "g", "workflow": {"input": 1, "nodes": [{"id": "x", "kind": "noop"}]}}]}`,
			`node "m": a mapped workflow gets each element as its input; remove its "input"`},
		{"WorkflowNodeQueue", `{"nodes": [{"id": "s", "queue": "q", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}]}`,
			`node "s": a sub-workflow node takes no "queue" (it runs as a child run, not as a job: set it on the workflow or its nodes)`},
		{"MapAt", `{"nodes": [{"id": "g", "kind": "noop"}, {"id": "m", "map": "g", "kind": "noop", "at": "2030-01-01T00:00:00Z"}]}`,
			`node "m": a map node takes no "at" (its elements start when it is released)`},
		{"ReservedKind", `{"nodes": [{"id": "a", "kind": "flow.map"}]}`,
			`node "a": kind "flow.map" is htdag's own (sub-workflow, map, wait, River-door and run deadline jobs), not a node's`},
		{"TooDeep", `{"max_depth": 1, "nodes": [{"id": "s", "workflow": {"nodes": [{"id": "t", "workflow": {"nodes": [{"id": "x", "kind": "noop"}]}}]}}]}`,
			`its workflows nest 2 levels deep, more than the limit of 1 (max_depth)`},
		{"TooManyNodes", `{"max_tree_nodes": 2, "nodes": [{"id": "s", "workflow": {"nodes": [{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop"}]}}]}`,
			`it has 3 nodes at all levels, more than the limit of 2 (max_tree_nodes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			_, err := b.flow.Start(b.ctx, flow.JSONSpec(tc.spec))
			var specErr *flow.SpecError
			require.ErrorAs(t, err, &specErr)
			require.Equal(t, tc.problem, specErr.Problem)
			requireNoRows(t, b.ctx, b.pool)
		})
	}
}

// flow.expand is the SQL door (workers in other languages): called on a
// running node in its completion transaction, it parks the node until the
// child run finishes; it refuses a node that is not running.
func TestExpandFromSQL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}`)
	a := b.jobID(t, runID, "a")

	_, err := b.pool.Exec(b.ctx, `SELECT flow.expand($1, '{"nodes": [{"id": "x", "kind": "noop"}]}')`, a)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, `htdag: node "a" of run `+fmt.Sprint(runID)+` is available; a node expands only while it runs (in its completion transaction)`,
		pgErr.Message)

	// As River's fetch would.
	_, err = b.pool.Exec(b.ctx, "UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1", a)
	require.NoError(t, err)
	var child int64
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT flow.expand($1, '{"nodes": [{"id": "x", "kind": "noop"}, {"id": "y", "kind": "noop", "deps": ["x"]}], "output": "y"}')`, a).
		Scan(&child))
	require.Equal(t, map[string]string{"a": "pending", "b": "pending"}, b.states(t, runID))
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)
	var waitingFor int64
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT waiting_for_run FROM flow.blocked WHERE job_id = $1", a).Scan(&waitingFor))
	require.Equal(t, child, waitingFor, "flow.blocked says what a parked node waits for")

	// A parked node cannot be made runnable, or finished, by hand.
	_, err = b.pool.Exec(b.ctx, "UPDATE river_job SET state = 'available' WHERE id = $1", a)
	require.ErrorAs(t, err, &pgErr)
	require.Contains(t, pgErr.Message, fmt.Sprintf("it runs as a child run (run %d), not as a job", child))
	_, err = insertOnlyRiver(t, b.pool).JobCancel(b.ctx, a)
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, fmt.Sprintf(`htdag: node "a" of run %d waits for its child run %d, which is running; it finishes when that run does`, runID, child),
		pgErr.Message)

	_, err = b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = now(), metadata = metadata || '{"output": 7}'
		WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = 'x')`, child)
	require.NoError(t, err)
	require.Equal(t, "pending", b.states(t, runID)["a"])
	_, err = b.pool.Exec(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = now(), metadata = metadata || '{"output": 9}'
		WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = $1 AND node_id = 'y')`, child)
	require.NoError(t, err)

	nodes := b.nodes(t, runID)
	require.Equal(t, "completed", nodes["a"].State, "the child run completed, so did its node")
	require.JSONEq(t, `9`, string(nodes["a"].Output), "with the child run's output node's output")
	require.Equal(t, "available", nodes["b"].State, "and its child was released in the same transaction")
	flowtest.RequireTreeInvariants(b.ctx, t, b.pool, runID)

	// A second expansion of the same node is refused.
	_, err = b.pool.Exec(b.ctx, "UPDATE river_job SET state = 'running' WHERE id = $1", b.jobID(t, runID, "b"))
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, "SELECT flow.expand($1, '{}')", b.jobID(t, runID, "b"))
	require.ErrorAs(t, err, &pgErr)
	require.True(t, strings.HasPrefix(pgErr.Message, "invalid workflow spec: "), pgErr.Message)
}

// Cancelling a tree while its nodes expand: child runs committed during the
// cancel are cancelled too, none runs on under a cancelled node, and no node
// completes once the cancel has committed.
func TestCancelWhileExpanding(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startRiver(t, b.pool, newTestWorkers())

	w := flow.New("big decompose")
	w.Add("root", jobs.DecomposeArgs{From: 0, To: 10_000_000, Threshold: 10})
	runID, err := b.flow.Start(b.ctx, w)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		var runs int
		return b.pool.QueryRow(b.ctx, "SELECT count(*) FROM flow.run WHERE root_run_id = $1", runID).Scan(&runs) == nil && runs >= 30
	}, testTimeout/2, time.Millisecond, "expansions under way")
	ok, err := b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)
	require.True(t, ok)
	// The database's clock once the cancel has committed.
	var committed time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT clock_timestamp()").Scan(&committed))
	require.Equal(t, flow.RunStateCancelled, b.wait(t, runID).State)

	// Every run of the tree finishes (running nodes stop through River's
	// cancel).
	require.Eventually(t, func() bool {
		var open int
		return b.pool.QueryRow(b.ctx,
			"SELECT count(*) FROM flow.run WHERE root_run_id = $1 AND state IN ('pending', 'running')", runID).Scan(&open) == nil && open == 0
	}, testTimeout/2, 5*time.Millisecond, "the whole tree stops")

	// Cancel is a point in time: a child run may have completed while the
	// cancel ran, before it committed; every other run is cancelled, and no
	// node of the tree completed after the cancel committed.
	var states []string
	var lateCompleted, lateRuns int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT array_agg(DISTINCT r.state),
		       (SELECT count(*) FROM flow.node n JOIN river_job j ON j.id = n.job_id JOIN flow.run x ON x.id = n.run_id
		         WHERE (x.id = $1 OR x.root_run_id = $1) AND j.state = 'completed' AND j.finalized_at > $2),
		       count(*) FILTER (WHERE r.state = 'completed' AND r.finished_at > $2)
		  FROM flow.run r WHERE r.root_run_id = $1`, runID, committed).Scan(&states, &lateCompleted, &lateRuns))
	require.Subset(t, []string{"cancelled", "completed"}, states)
	require.Contains(t, states, "cancelled")
	require.Zero(t, lateCompleted, "nodes completed after the cancel committed")
	require.Zero(t, lateRuns, "child runs completed after the cancel committed")
	flowtest.RequireTreeChecked(b.ctx, t, b.pool, runID)
}
