package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flowtest"
	"github.com/htdag/htdag/internal/render"
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

// `worker status` reads a run's tree from the database and hands it to
// internal/render (whose tests cover the layout): child runs under the
// nodes they run for, errors on their nodes, --depth and --max-nodes
// reaching the view, a child run's place in its tree, the whole tree in
// --json; and `worker runs` counts the whole tree.
func TestStatusTree(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	runID := startThreeLevelTree(t, pool, 5, 3)
	id := strconv.FormatInt(runID, 10)
	var subRun, mapRun, mJob int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT (SELECT child_run_id FROM flow.tree($1) WHERE path = 'sub'),
		        (SELECT child_run_id FROM flow.tree($1) WHERE path = 'sub/m'),
		        (SELECT job_id FROM flow.tree($1) WHERE path = 'sub/m')`, runID).Scan(&subRun, &mapRun, &mJob))

	res := cli(t, "", db(pool, "status", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	out := res.stdout
	require.Regexp(t, `(?m)^state\s+running$`, out)
	require.Regexp(t, `(?m)^nodes\s+3 \(available 1, cancelled 1, discarded 1; unfinished 1, failed 2\)$`, out)
	require.Regexp(t, fmt.Sprintf(`(?m)^sub\s+flow\.workflow\s+discarded\s+→ run %d failed: 1 completed, 1 cancelled, 1 discarded\n`+
		`  gen\s+noop\s+completed\s+output: \[0,1,2,3,4\]\n`+
		`  m\s+flow\.map\s+discarded\s+→ run %d failed: 4 completed, 1 discarded\n`+
		`    0\s+noop\s+completed\n(.*\n){2}`+
		`    3\s+noop\s+discarded\s+error: square: planned failure at 3\n`+
		`    4\s+noop\s+completed\n`+
		`  total\s+noop\s+cancelled\s+error: htdag: cancelled because an upstream node failed\n`, subRun, mapRun), out)
	require.Regexp(t, `(?m)^all\s+3\s+11\s+1\s+5\s+2\s+3$`, out)
	require.NotContains(t, out, "listed", "nothing was left out")

	res = cli(t, "", db(pool, "status", "--depth", "1", "--max-nodes", "2", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, fmt.Sprintf(`(?m)^    first failure below: sub/m/3 \(run %d\) discarded: square: planned failure at 3$`, mapRun), res.stdout)
	require.Contains(t, res.stdout, "listed 1 of the 2 levels below run "+id)
	require.Contains(t, res.stdout, "listed at most 2 nodes per run")

	res = cli(t, "", db(pool, "status", strconv.FormatInt(mapRun, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, fmt.Sprintf(`(?m)^parent\s+run %d, node "m"\ntop run\s+%s \(this run is at depth 2\)$`, subRun, id), res.stdout)
	require.Regexp(t, `(?m)^3\s+noop\s+discarded\s+error: square: planned failure at 3$`, res.stdout)

	for _, bad := range [][]string{{"--depth", "deep"}, {"--depth", "-1"}, {"--max-nodes", "-2"}} {
		res = cli(t, "", db(pool, append([]string{"status", id}, bad...)...)...)
		require.Equal(t, 1, res.code, "%v: stdout %q", bad, res.stdout)
		require.Empty(t, res.stdout)
		require.Contains(t, res.stderr, bad[0], "%v", bad)
	}

	// --depth and --max-nodes do not cut the JSON.
	res = cli(t, "", db(pool, "status", "--json", "--depth", "0", "--max-nodes", "1", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var doc render.StatusDoc
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc), res.stdout)
	require.Equal(t, runID, doc.Run.ID)
	require.Len(t, doc.Nodes, 3, "the run's own nodes")
	var paths []string
	for _, n := range doc.Tree {
		paths = append(paths, n.Path)
	}
	require.Equal(t, []string{"sub", "sub/gen", "sub/m", "sub/m/0", "sub/m/1", "sub/m/2", "sub/m/3", "sub/m/4",
		"sub/total", "after", "independent"}, paths)
	require.Equal(t, "square: planned failure at 3", doc.Tree[6].LastError)
	require.Equal(t, []int64{runID, subRun, mapRun}, []int64{doc.Runs[0].ID, doc.Runs[1].ID, doc.Runs[2].ID})
	require.Equal(t, mJob, *doc.Runs[2].ParentJobID)

	res = cli(t, "", db(pool, "status", "--json", strconv.FormatInt(mapRun, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var child render.StatusDoc
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &child))
	require.Equal(t, "m", *child.Run.ParentNode)
	require.Equal(t, mJob, *child.Runs[0].ParentJobID)
	require.Len(t, child.Tree, 5)

	res = cli(t, "", db(pool, "runs")...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^ID\s+NAME\s+STATE\s+RUNS\s+NODES\s+UNFINISHED\s+FAILED\s`, res.stdout)
	require.Regexp(t, `(?m)^`+id+`\s+three levels\s+running\s+3\s+11\s+1\s+5\s`, res.stdout)
	require.NotRegexp(t, fmt.Sprintf(`(?m)^%d\s`, mapRun), res.stdout, "child runs are not listed")
}

// `worker status` shows a wait node waiting for a signal as waiting, and
// says what it waits for.
func TestStatusShowsAWaitingNode(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	runID := startRun(t, pool, `{"name": "release", "nodes": [
		{"id": "approve", "wait": {"timeout_ms": 86400000}},
		{"id": "deploy", "kind": "noop", "deps": ["approve"]}]}`)
	res := cli(t, "", db(pool, "status", strconv.FormatInt(runID, 10))...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^nodes\s+2 \(pending 1, waiting 1; unfinished 2, failed 0\)$`, res.stdout)
	require.Regexp(t, `(?m)^approve\s+flow\.wait\s+waiting\s+waits for a signal \(flow\.signal\)$`, res.stdout)
}

// worker status counts the nodes waiting for a concurrency slot, per key;
// --json marks each such node.
func TestStatusCountsNodesWaitingForASlot(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	var runID int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT flow.start('{"nodes": [
		{"id": "a", "kind": "noop", "concurrency": {"key": "api", "limit": 1}},
		{"id": "b", "kind": "noop", "concurrency": {"key": "api", "limit": 1}},
		{"id": "c", "kind": "noop", "concurrency": {"key": "api", "limit": 1}}]}')`).Scan(&runID))
	id := strconv.FormatInt(runID, 10)

	res := cli(t, "", db(pool, "status", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Regexp(t, `(?m)^slots\s+2 nodes waiting for a concurrency slot \("api" 2\)$`, res.stdout)

	res = cli(t, "", db(pool, "status", "--json", id)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	var doc struct {
		Nodes []render.NodeDoc `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc))
	waiting := map[string]bool{}
	for _, n := range doc.Nodes {
		require.Equal(t, "api", n.ConcurrencyKey)
		waiting[n.NodeID] = n.WaitingForSlot
	}
	require.Equal(t, map[string]bool{"a": false, "b": true, "c": true}, waiting)
}

// `worker signal` completes a waiting node with its JSON payload, which its
// child reads; a node that does not wait, and a payload that is not JSON,
// are refused, saying why, and change nothing.
func TestSignalCommand(t *testing.T) {
	t.Parallel()
	pool := flowtest.NewPool(t)
	runID := startRun(t, pool, `{"name": "release", "nodes": [
		{"id": "approve", "wait": {}},
		{"id": "deploy", "kind": "noop", "deps": ["approve"]}]}`)
	id := strconv.FormatInt(runID, 10)

	res := cli(t, "", db(pool, "signal", id, "deploy", `{"ok": true}`)...)
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, `cannot signal node "deploy" of run `+id+`: it is not a wait node`)

	res = cli(t, "", db(pool, "signal", id, "approve", `{ok}`)...)
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, `PAYLOAD "{ok}" is not JSON`)

	res = cli(t, "", db(pool, "signal", id, "approve", `{"approved": true, "by": "ana"}`)...)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	require.Equal(t, `node "approve" of run `+id+" signalled (`worker wait "+id+"` waits for the run)\n", res.stdout)

	var output, deploy string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT n.output::text, j.state::text FROM flow.nodes n, flow.nodes d JOIN river_job j ON j.id = d.job_id
		 WHERE n.run_id = $1 AND n.node_id = 'approve' AND d.run_id = $1 AND d.node_id = 'deploy'`, runID).Scan(&output, &deploy))
	require.JSONEq(t, `{"approved": true, "by": "ana"}`, output)
	require.Equal(t, "available", deploy, "the child is released by the signal")

	res = cli(t, "", db(pool, "signal", id, "approve")...)
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, "it was already signalled")
}
