package render

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

func testRuns() ([]*flow.Run, map[int64]flow.TreeTotals) {
	started, finished := created.Add(time.Second), created.Add(1500*time.Millisecond)
	runs := []*flow.Run{
		{ID: 12, Name: "second", State: flow.RunStatePending, NodeCount: 1, Unfinished: 1, CreatedAt: created.Add(time.Minute), TopRunID: 12},
		{ID: 7, State: flow.RunStateFailed, NodeCount: 3, Failed: 2, CreatedAt: created, StartedAt: &started, FinishedAt: &finished, TopRunID: 7},
	}
	return runs, map[int64]flow.TreeTotals{
		12: {Runs: 1, Nodes: 1, Unfinished: 1},
		7:  {Runs: 3, Nodes: 11, Unfinished: 1, Failed: 5},
	}
}

// The runs table shows each run's tree totals, not its own counters.
func TestRunsText(t *testing.T) {
	t.Parallel()
	runs, totals := testRuns()
	var b bytes.Buffer
	require.NoError(t, RunsText(&b, runs, totals, created.Add(time.Hour)))
	require.Equal(t, `ID  NAME    STATE    RUNS  NODES  UNFINISHED  FAILED  CREATED              DURATION
12  second  pending  1     1      1           0       2025-01-02 03:05:05  -
7   -       failed   3     11     1           5       2025-01-02 03:04:05  500ms
`, b.String())

	b.Reset()
	require.NoError(t, RunsText(&b, nil, nil, created))
	require.Equal(t, "no runs\n", b.String())
}

// runs --json has each run's fields, as in status, and its tree's totals.
func TestRunsJSON(t *testing.T) {
	t.Parallel()
	runs, totals := testRuns()
	var b bytes.Buffer
	require.NoError(t, RunsJSON(&b, runs, totals, created.Add(time.Hour)))
	var raw []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b.Bytes(), &raw), b.String())
	require.Len(t, raw, 2)
	requireKeys(t, raw[0], "id", "name", "state", "node_count", "unfinished", "failed", "node_states", "input", "output",
		"created_at", "started_at", "finished_at", "duration_ms", "parent_run_id", "parent_job_id", "parent_node", "top_run_id",
		"depth", "tree")
	require.JSONEq(t, `{"runs": 3, "nodes": 11, "unfinished": 1, "failed": 5}`, string(raw[1]["tree"]))
	var rows []RunsRowDoc
	require.NoError(t, json.Unmarshal(b.Bytes(), &rows))
	require.Equal(t, int64(7), rows[1].ID)
	require.Equal(t, 500.0, *rows[1].DurationMS)

	b.Reset()
	require.NoError(t, RunsJSON(&b, nil, nil, created))
	require.Equal(t, "[]\n", b.String())
}

// doctor's table: a run's problem has no node.
func TestProblemsText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, ProblemsText(&b, []flow.Problem{
		{RunID: 3, Problem: "unfinished is 1 but 2 nodes are not finished", Category: flow.ProblemConsistency},
		{RunID: 12, NodeID: "fetch", Problem: "pending with waiting = 0 in a running run (lost release)", Category: flow.ProblemStuck},
		{RunID: 13, NodeID: "x", Problem: "available in queue \"q\", which no live worker serves", Category: flow.ProblemFleet},
	}))
	require.Equal(t, `RUN  NODE   CATEGORY     PROBLEM
3    -      consistency  unfinished is 1 but 2 nodes are not finished
12   fetch  stuck        pending with waiting = 0 in a running run (lost release)
13   x      fleet        available in queue "q", which no live worker serves
`, b.String())

	b.Reset()
	require.NoError(t, ProblemsText(&b, nil))
	require.Equal(t, "no problems found\n", b.String())
}
