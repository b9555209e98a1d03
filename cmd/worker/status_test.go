package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/internal/testdb"
)

// The status tree tests need exact states at every level, one map element
// failing among completed ones, so they play the worker by hand: the release
// trigger reacts to these UPDATEs as to River's own (a map's child run starts
// when the node it maps over completes with an array output).

// threeLevelSpec is a sub-workflow whose child run maps over gen's output:
// three levels of runs. after waits for sub; independent waits for nothing.
const threeLevelSpec = `{"name": "three levels", "nodes": [
	{"id": "sub", "workflow": {"name": "inner", "nodes": [
		{"id": "gen", "kind": "noop"},
		{"id": "m", "map": "gen", "kind": "noop", "max_attempts": 1},
		{"id": "total", "kind": "noop", "deps": ["m"]}]}},
	{"id": "after", "kind": "noop", "deps": ["sub"]},
	{"id": "independent", "kind": "noop"}]}`

// treeJobs returns the job ids of the nodes at paths in runID's tree.
func treeJobs(t *testing.T, pool *pgxpool.Pool, runID int64, paths ...string) []int64 {
	t.Helper()
	var ids []int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT coalesce(array_agg(job_id), '{}') FROM flow.tree($1) WHERE path = ANY ($2)`, runID, paths).Scan(&ids))
	require.Len(t, ids, len(paths), "paths %v", paths)
	return ids
}

// completeNodes completes the nodes at paths, with output (JSON) when given.
func completeNodes(t *testing.T, pool *pgxpool.Pool, runID int64, output string, paths ...string) {
	t.Helper()
	var out *string
	if output != "" {
		out = &output
	}
	_, err := pool.Exec(context.Background(), `
		UPDATE river_job SET state = 'completed', attempt = 1, attempted_at = now(), finalized_at = now(),
		       metadata = CASE WHEN $2::jsonb IS NULL THEN metadata ELSE metadata || jsonb_build_object('output', $2::jsonb) END
		 WHERE id = ANY ($1)`, treeJobs(t, pool, runID, paths...), out)
	require.NoError(t, err)
}

// discardNode fails the node at path for good with message as its error.
func discardNode(t *testing.T, pool *pgxpool.Pool, runID int64, path, message string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		UPDATE river_job SET state = 'discarded', attempt = 1, attempted_at = now(), finalized_at = now(),
		       errors = ARRAY[jsonb_build_object('at', now(), 'attempt', 1, 'error', $2::text, 'trace', '')]
		 WHERE id = $1`, treeJobs(t, pool, runID, path)[0], message)
	require.NoError(t, err)
}

// startThreeLevelTree starts threeLevelSpec and plays it to: gen completed
// with [0, ..., elements-1], so m's child run has one node per element;
// element failAt discarded with an error, those in running left running,
// the others completed. With no element running, m and sub are discarded,
// total and after cancelled; independent stays available.
func startThreeLevelTree(t *testing.T, pool *pgxpool.Pool, elements, failAt int, running ...int) int64 {
	t.Helper()
	runID := startRun(t, pool, threeLevelSpec)
	items := make([]int, elements)
	for i := range items {
		items[i] = i
	}
	out, err := json.Marshal(items)
	require.NoError(t, err)
	completeNodes(t, pool, runID, string(out), "sub/gen")

	var done []string
	for i := range elements {
		switch {
		case i == failAt:
		case contains(running, i):
			_, err := pool.Exec(context.Background(),
				`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`,
				treeJobs(t, pool, runID, fmt.Sprintf("sub/m/%d", i))[0])
			require.NoError(t, err)
		default:
			done = append(done, fmt.Sprintf("sub/m/%d", i))
		}
	}
	completeNodes(t, pool, runID, "", done...)
	discardNode(t, pool, runID, fmt.Sprintf("sub/m/%d", failAt), fmt.Sprintf("square: planned failure at %d", failAt))
	return runID
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// lineIndex is the index of the first line of out matching re, -1 if none.
func lineIndex(out, re string) int {
	r := regexp.MustCompile(re)
	for i, l := range strings.Split(out, "\n") {
		if r.MatchString(l) {
			return i
		}
	}
	return -1
}

// `worker status` prints a three-level tree indented by level, each node
// with a child run followed by that run's nodes, the failing element's
// error on its line, and node counts by state at every level.
func TestStatusTree(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	runID := startThreeLevelTree(t, pool, 5, 3)
	id := strconv.FormatInt(runID, 10)

	res := cli(t, "", db(pool, "status", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	out := res.stdout
	require.Regexp(t, `(?m)^state\s+running$`, out)
	require.Regexp(t, `(?m)^nodes\s+3 \(available 1, cancelled 1, discarded 1; unfinished 1, failed 2\)$`, out)

	// The tree, in order, indented two spaces a level.
	want := []string{
		`^NODE\s+KIND\s+STATE\s+CHILD RUN / ERROR / OUTPUT$`,
		`^sub\s+flow\.workflow\s+discarded\s+→ run (\d+) failed: 1 completed, 1 cancelled, 1 discarded$`,
		`^  gen\s+noop\s+completed\s+output: \[0,1,2,3,4\]$`,
		`^  m\s+flow\.map\s+discarded\s+→ run (\d+) failed: 4 completed, 1 discarded$`,
		`^    0\s+noop\s+completed$`,
		`^    1\s+noop\s+completed$`,
		`^    2\s+noop\s+completed$`,
		`^    3\s+noop\s+discarded\s+error: square: planned failure at 3$`,
		`^    4\s+noop\s+completed$`,
		`^  total\s+noop\s+cancelled\s+error: htdag: cancelled because an upstream node failed$`,
		`^after\s+noop\s+cancelled\s+error: htdag: cancelled because an upstream node failed$`,
		`^independent\s+noop\s+available$`,
		`^$`,
		// Per level: runs and nodes by state, then the whole tree.
		`^DEPTH\s+RUNS\s+NODES\s+AVAILABLE\s+COMPLETED\s+CANCELLED\s+DISCARDED$`,
		`^0\s+1\s+3\s+1\s+-\s+1\s+1$`,
		`^1\s+1\s+3\s+-\s+1\s+1\s+1$`,
		`^2\s+1\s+5\s+-\s+4\s+-\s+1$`,
		`^all\s+3\s+11\s+1\s+5\s+2\s+3$`,
	}
	start := lineIndex(out, want[0])
	require.GreaterOrEqual(t, start, 0, out)
	lines := strings.Split(out, "\n")
	require.GreaterOrEqual(t, len(lines), start+len(want), out)
	for i, re := range want {
		require.Regexp(t, re, lines[start+i], "line %d of the tree in:\n%s", i, out)
	}
	require.Equal(t, "", strings.TrimSpace(strings.Join(lines[start+len(want):], "\n")),
		"nothing was left out, so no hint follows")

	// The child run ids on the lines are the tree's.
	subRun := regexp.MustCompile(want[1]).FindStringSubmatch(lines[start+1])[1]
	mapRun := regexp.MustCompile(want[3]).FindStringSubmatch(lines[start+3])[1]
	var subRunDB, mapRunDB string
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT (SELECT child_run_id FROM flow.tree($1) WHERE path = 'sub')::text,
		        (SELECT child_run_id FROM flow.tree($1) WHERE path = 'sub/m')::text`, runID).Scan(&subRunDB, &mapRunDB))
	require.Equal(t, subRunDB, subRun)
	require.Equal(t, mapRunDB, mapRun)

	// A child run's header says where it sits; its tree starts at it.
	res = cli(t, "", db(pool, "status", mapRun)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^parent\s+run `+subRun+`, node "m"$`, res.stdout)
	require.Regexp(t, `(?m)^top run\s+`+id+` \(this run is at depth 2\)$`, res.stdout)
	require.Regexp(t, `(?m)^3\s+noop\s+discarded\s+error: square: planned failure at 3$`, res.stdout)
	require.Regexp(t, `(?m)^2\s+1\s+5\s+4\s+1$`, res.stdout, "one level, at depth 2")

	// --depth 1 stops above the map's run: m's line counts it, and a note
	// under it points at the failure below.
	res = cli(t, "", db(pool, "status", "--depth", "1", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^  m\s+flow\.map\s+discarded\s+→ run `+mapRun+` failed: 4 completed, 1 discarded$`, res.stdout)
	require.Regexp(t, `(?m)^    first failure below: sub/m/3 \(run `+mapRun+`\) discarded: square: planned failure at 3$`, res.stdout)
	require.NotRegexp(t, `(?m)^    4\s`, res.stdout)
	require.Regexp(t, `(?m)^2\s+1\s+5\s`, res.stdout, "the per-level table still counts every level")
	require.Contains(t, res.stdout, "listed 1 of the 2 levels below run "+id)

	// --depth 0: the run's own nodes, sub's child run counted on its line.
	res = cli(t, "", db(pool, "status", "--depth", "0", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^sub\s+flow\.workflow\s+discarded\s+→ run `+subRun+` failed: 1 completed, 1 cancelled, 1 discarded; \+1 run below: 4 completed, 1 discarded$`, res.stdout)
	require.NotRegexp(t, `(?m)^  gen\s`, res.stdout)

	for _, bad := range [][]string{{"--depth", "deep"}, {"--depth", "-1"}, {"--max-nodes", "-2"}} {
		res = cli(t, "", db(pool, append([]string{"status", id}, bad...)...)...)
		require.Equal(t, 1, res.code, "%v: stdout %q", bad, res.stdout)
		require.Empty(t, res.stdout)
		require.Contains(t, res.stderr, bad[0], "%v", bad)
	}

	// `worker runs` counts the whole tree.
	res = cli(t, "", db(pool, "runs")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^ID\s+NAME\s+STATE\s+RUNS\s+NODES\s+UNFINISHED\s+FAILED\s`, res.stdout)
	require.Regexp(t, `(?m)^`+id+`\s+three levels\s+running\s+3\s+11\s+1\s+5\s`, res.stdout)
	require.NotRegexp(t, `(?m)^`+mapRun+`\s`, res.stdout, "child runs are not listed")
}

// A run with more nodes than --max-nodes lists its failed and unfinished
// nodes first, then others up to the limit, and counts the rest.
func TestStatusMaxNodes(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	runID := startThreeLevelTree(t, pool, 30, 7, 12)
	id := strconv.FormatInt(runID, 10)

	res := cli(t, "", db(pool, "status", "--depth", "all", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	out := res.stdout
	m := lineIndex(out, `^  m\s+flow\.map\s+pending\s+→ run \d+ running: 1 running, 28 completed, 1 discarded$`)
	require.GreaterOrEqual(t, m, 0, out)
	lines := strings.Split(out, "\n")
	require.Regexp(t, `^    7\s+noop\s+discarded\s+error: square: planned failure at 7$`, lines[m+1], out)
	require.Regexp(t, `^    12\s+noop\s+running$`, lines[m+2], out)
	// Then completed ones in spec order, up to 20 lines, then the rest.
	for i, want := range []string{"0", "1", "2", "3", "4", "5", "6", "8"} {
		require.Regexp(t, `^    `+want+`\s+noop\s+completed$`, lines[m+3+i], out)
	}
	require.Regexp(t, `^    19\s+noop\s+completed$`, lines[m+20], out)
	require.Equal(t, "    … 10 more: 10 completed", lines[m+21], out)
	require.Regexp(t, `^  total\s+noop\s+pending$`, lines[m+22], out)
	require.Regexp(t, `(?m)^DEPTH\s+RUNS\s+NODES\s+PENDING\s+AVAILABLE\s+RUNNING\s+COMPLETED\s+DISCARDED$`, out)
	require.Regexp(t, `(?m)^2\s+1\s+30\s+-\s+-\s+1\s+28\s+1$`, out, "the table counts every node")
	require.Contains(t, out, "listed at most 20 nodes per run, failed and unfinished first (--max-nodes N, 0 for all)")

	res = cli(t, "", db(pool, "status", "--depth", "all", "--max-nodes", "2", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	lines = strings.Split(res.stdout, "\n")
	m = lineIndex(res.stdout, `^  m\s`)
	require.GreaterOrEqual(t, m, 0, res.stdout)
	require.Regexp(t, `^    7\s+noop\s+discarded\s`, lines[m+1])
	require.Regexp(t, `^    12\s+noop\s+running$`, lines[m+2])
	require.Equal(t, "    … 28 more: 28 completed", lines[m+3])
	// Every run is cut to 2: sub's run lists m (waiting for its child run)
	// and total (waiting for m), not gen (completed); the top run sub and
	// independent (available), not after (waiting for sub).
	require.Regexp(t, `^  total\s+noop\s+pending$`, lines[m+4])
	require.Equal(t, "  … 1 more: 1 completed", lines[m+5])
	require.Regexp(t, `(?m)^independent\s+noop\s+available\n… 1 more: 1 pending\n`, res.stdout)

	res = cli(t, "", db(pool, "status", "--depth", "all", "--max-nodes", "0", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^    29\s+noop\s+completed$`, res.stdout)
	require.NotContains(t, res.stdout, "more:")
	require.NotContains(t, res.stdout, "listed")
}

// `worker status --json` prints the run, its own nodes, and its whole tree:
// flow.tree's rows, a summary per run and one per level.
func TestStatusTreeJSON(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	runID := startThreeLevelTree(t, pool, 5, 3)

	// --depth and --max-nodes do not cut the JSON.
	res := cli(t, "", db(pool, "status", "--json", "--depth", "0", "--max-nodes", "1", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)

	// The documented shape, key for key.
	var raw struct {
		Run    map[string]json.RawMessage   `json:"run"`
		Nodes  []map[string]json.RawMessage `json:"nodes"`
		Tree   []map[string]json.RawMessage `json:"tree"`
		Runs   []map[string]json.RawMessage `json:"runs"`
		Levels []map[string]json.RawMessage `json:"levels"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &raw), res.stdout)
	requireKeys(t, raw.Run, "id", "name", "state", "node_count", "unfinished", "failed", "node_states", "input", "output",
		"created_at", "started_at", "finished_at", "duration_ms", "parent_run_id", "parent_job_id", "parent_node", "top_run_id", "depth")
	requireKeys(t, raw.Nodes[0], "node_id", "job_id", "kind", "state", "attempt", "max_attempts", "parents", "waiting",
		"last_error", "output", "attempted_at", "finalized_at", "child_run_id")
	requireKeys(t, raw.Tree[0], "path", "run_id", "depth", "run_state", "node_id", "job_id", "kind", "state", "attempt",
		"child_run_id", "last_error", "output")
	requireKeys(t, raw.Runs[0], "id", "depth", "state", "parent_run_id", "parent_job_id", "parent_path", "node_count",
		"node_states", "subtree")
	requireKeys(t, raw.Levels[0], "depth", "runs", "nodes", "node_states")

	var doc statusJSON
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc))
	require.Equal(t, runID, doc.Run.ID)
	require.Equal(t, runID, doc.Run.TopRunID)
	require.Nil(t, doc.Run.ParentRunID)
	require.Equal(t, map[string]int{"available": 1, "cancelled": 1, "discarded": 1}, doc.Run.NodeStates)
	require.Len(t, doc.Nodes, 3, "the run's own nodes")

	var paths []string
	byPath := map[string]treeNodeJSON{}
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
	require.Equal(t, *byPath["sub"].ChildRunID, byPath["sub/m"].RunID)
	require.JSONEq(t, `[0, 1, 2, 3, 4]`, string(byPath["sub/gen"].Output))

	require.Len(t, doc.Runs, 3)
	top, sub, mapRun := doc.Runs[0], doc.Runs[1], doc.Runs[2]
	require.Equal(t, runID, top.ID)
	require.Nil(t, top.ParentPath)
	require.Equal(t, subtreeJSON{Runs: 3, Nodes: 11, NodeStates: map[string]int{"available": 1, "completed": 5, "cancelled": 2, "discarded": 3}}, top.Subtree)
	require.Equal(t, "sub", *sub.ParentPath)
	require.Equal(t, runID, *sub.ParentRunID)
	require.Equal(t, byPath["sub"].JobID, *sub.ParentJobID)
	require.Equal(t, "sub/m", *mapRun.ParentPath)
	require.Equal(t, "failed", mapRun.State)
	require.Equal(t, 5, mapRun.NodeCount)
	require.Equal(t, map[string]int{"completed": 4, "discarded": 1}, mapRun.NodeStates)
	require.Equal(t, 1, mapRun.Subtree.Runs)

	require.Equal(t, []levelJSON{
		{Depth: 0, Runs: 1, Nodes: 3, NodeStates: map[string]int{"available": 1, "cancelled": 1, "discarded": 1}},
		{Depth: 1, Runs: 1, Nodes: 3, NodeStates: map[string]int{"completed": 1, "cancelled": 1, "discarded": 1}},
		{Depth: 2, Runs: 1, Nodes: 5, NodeStates: map[string]int{"completed": 4, "discarded": 1}},
	}, doc.Levels)

	// A child run's document: its parent, its tree from it down.
	res = cli(t, "", db(pool, "status", "--json", strconv.FormatInt(mapRun.ID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var child statusJSON
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &child))
	require.Equal(t, sub.ID, *child.Run.ParentRunID)
	require.Equal(t, "m", *child.Run.ParentNode)
	require.Equal(t, runID, child.Run.TopRunID)
	require.Equal(t, 2, child.Run.Depth)
	require.Len(t, child.Tree, 5)
	require.Equal(t, "3", child.Tree[3].Path, "paths start at the run asked for")
	require.Equal(t, sub.ID, *child.Runs[0].ParentRunID)
	require.Nil(t, child.Runs[0].ParentPath)
}

func requireKeys(t *testing.T, obj map[string]json.RawMessage, keys ...string) {
	t.Helper()
	var got []string
	for k := range obj {
		got = append(got, k)
	}
	require.ElementsMatch(t, keys, got)
}
