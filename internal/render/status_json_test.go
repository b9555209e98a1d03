package render

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// statusJSON renders StatusJSON and decodes it both into a StatusDoc and
// into raw objects, for the key checks.
func statusJSON(t *testing.T, run *flow.Run, rows []*flow.TreeNode, nodes []*flow.NodeInfo) (StatusDoc, rawStatus) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, StatusJSON(&b, NewTree(run, rows), nodes, created.Add(3*time.Second)))
	var doc StatusDoc
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc), b.String())
	var raw rawStatus
	require.NoError(t, json.Unmarshal(b.Bytes(), &raw), b.String())
	return doc, raw
}

type rawStatus struct {
	Run    map[string]json.RawMessage   `json:"run"`
	Nodes  []map[string]json.RawMessage `json:"nodes"`
	Tree   []map[string]json.RawMessage `json:"tree"`
	Runs   []map[string]json.RawMessage `json:"runs"`
	Levels []map[string]json.RawMessage `json:"levels"`
}

func requireKeys(t *testing.T, obj map[string]json.RawMessage, keys ...string) {
	t.Helper()
	var got []string
	for k := range obj {
		got = append(got, k)
	}
	require.ElementsMatch(t, keys, got)
}

// The JSON document has the run, its own nodes, and its whole tree:
// flow.tree's rows, a summary per run and one per level, key for key as
// documented.
func TestStatusJSON(t *testing.T) {
	t.Parallel()
	run, rows := threeLevels(5, 3)
	nodes := []*flow.NodeInfo{
		{RunID: topRun, NodeID: "sub", JobID: 1, Kind: "flow.workflow", State: "discarded", ChildRunID: rows[0].ChildRunID},
		{RunID: topRun, NodeID: "after", JobID: 10, Kind: "noop", State: "cancelled", Parents: []string{"sub"}, LastError: cancelledError},
		{RunID: topRun, NodeID: "independent", JobID: 11, Kind: "noop", State: "available"},
	}
	doc, raw := statusJSON(t, run, rows, nodes)

	requireKeys(t, raw.Run, "id", "name", "state", "node_count", "unfinished", "failed", "node_states", "input", "output",
		"created_at", "started_at", "finished_at", "duration_ms", "parent_run_id", "parent_job_id", "parent_node", "top_run_id", "depth")
	requireKeys(t, raw.Nodes[0], "node_id", "job_id", "kind", "state", "attempt", "max_attempts", "parents", "waiting",
		"last_error", "output", "attempted_at", "finalized_at", "child_run_id")
	requireKeys(t, raw.Tree[0], "path", "run_id", "depth", "run_state", "node_id", "job_id", "kind", "state", "attempt",
		"child_run_id", "last_error", "output")
	requireKeys(t, raw.Runs[0], "id", "depth", "state", "parent_run_id", "parent_job_id", "parent_path", "node_count",
		"node_states", "subtree")
	requireKeys(t, raw.Levels[0], "depth", "runs", "nodes", "node_states")

	require.Equal(t, int64(topRun), doc.Run.ID)
	require.Equal(t, int64(topRun), doc.Run.TopRunID)
	require.Nil(t, doc.Run.ParentRunID)
	require.Nil(t, doc.Run.ParentNode)
	require.Equal(t, 2000.0, *doc.Run.DurationMS, "started a second after created, now 3s after")
	require.JSONEq(t, `{"path": "/src"}`, string(doc.Run.Input))
	require.Equal(t, map[string]int{"available": 1, "cancelled": 1, "discarded": 1}, doc.Run.NodeStates)
	require.Equal(t, []string{}, doc.Nodes[0].Parents, "no parents is an empty list, not null")
	require.Equal(t, []string{"sub"}, doc.Nodes[1].Parents)
	require.Equal(t, cancelledError, doc.Nodes[1].LastError)

	var paths []string
	byPath := map[string]TreeNodeDoc{}
	for _, n := range doc.Tree {
		paths = append(paths, n.Path)
		byPath[n.Path] = n
	}
	require.Equal(t, []string{"sub", "sub/gen", "sub/m", "sub/m/0", "sub/m/1", "sub/m/2", "sub/m/3", "sub/m/4",
		"sub/total", "after", "independent"}, paths, "depth first, every level")
	failing := byPath["sub/m/3"]
	require.Equal(t, "discarded", failing.State)
	require.Equal(t, "square: planned failure at 3", failing.LastError)
	require.Equal(t, 2, failing.Depth)
	require.Equal(t, "failed", failing.RunState)
	require.Equal(t, *byPath["sub/m"].ChildRunID, failing.RunID)
	require.JSONEq(t, `[0, 1, 2, 3, 4]`, string(byPath["sub/gen"].Output))

	require.Len(t, doc.Runs, 3)
	top, sub, mapped := doc.Runs[0], doc.Runs[1], doc.Runs[2]
	require.Equal(t, int64(topRun), top.ID)
	require.Nil(t, top.ParentPath)
	require.Equal(t, SubtreeDoc{Runs: 3, Nodes: 11, NodeStates: map[string]int{"available": 1, "completed": 5, "cancelled": 2, "discarded": 3}}, top.Subtree)
	require.Equal(t, "sub", *sub.ParentPath)
	require.Equal(t, int64(topRun), *sub.ParentRunID)
	require.Equal(t, byPath["sub"].JobID, *sub.ParentJobID)
	require.Equal(t, SubtreeDoc{Runs: 2, Nodes: 8, NodeStates: map[string]int{"completed": 5, "cancelled": 1, "discarded": 2}}, sub.Subtree)
	require.Equal(t, "sub/m", *mapped.ParentPath)
	require.Equal(t, "failed", mapped.State)
	require.Equal(t, 5, mapped.NodeCount)
	require.Equal(t, map[string]int{"completed": 4, "discarded": 1}, mapped.NodeStates)
	require.Equal(t, 1, mapped.Subtree.Runs)

	require.Equal(t, []LevelDoc{
		{Depth: 0, Runs: 1, Nodes: 3, NodeStates: map[string]int{"available": 1, "cancelled": 1, "discarded": 1}},
		{Depth: 1, Runs: 1, Nodes: 3, NodeStates: map[string]int{"completed": 1, "cancelled": 1, "discarded": 1}},
		{Depth: 2, Runs: 1, Nodes: 5, NodeStates: map[string]int{"completed": 4, "discarded": 1}},
	}, doc.Levels)
}

// A child run's document: its parent, its tree from it down, its first
// run's parent taken from the run itself.
func TestStatusJSONChildRun(t *testing.T) {
	t.Parallel()
	run, rows := mapRunTree(threeLevels(5, 3))
	doc, _ := statusJSON(t, run, rows, nil)
	require.Equal(t, int64(subRun), *doc.Run.ParentRunID)
	require.Equal(t, "m", *doc.Run.ParentNode)
	require.Equal(t, int64(topRun), doc.Run.TopRunID)
	require.Equal(t, 2, doc.Run.Depth)
	require.Nil(t, doc.Run.DurationMS, "not started")
	require.Equal(t, []NodeDoc{}, doc.Nodes)
	require.Len(t, doc.Tree, 5)
	require.Equal(t, "3", doc.Tree[3].Path, "paths start at the run asked for")
	require.Len(t, doc.Runs, 1)
	require.Equal(t, int64(subRun), *doc.Runs[0].ParentRunID)
	require.Equal(t, *run.ParentJobID, *doc.Runs[0].ParentJobID)
	require.Nil(t, doc.Runs[0].ParentPath)
}
