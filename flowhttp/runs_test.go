package flowhttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

type graphJSON struct {
	Run struct {
		ID       int64  `json:"id"`
		State    string `json:"state"`
		Finished bool   `json:"finished"`
		TopRunID int64  `json:"top_run_id"`
	} `json:"run"`
	Nodes []struct {
		ID         string   `json:"id"`
		JobID      int64    `json:"job_id"`
		Kind       string   `json:"kind"`
		State      string   `json:"state"`
		Parents    []string `json:"parents"`
		LastError  string   `json:"last_error"`
		DurationMS *float64 `json:"duration_ms"`
		ChildRunID *int64   `json:"child_run_id"`
	} `json:"nodes"`
	RiverUI string `json:"river_ui"`
}

// /runs/{id}.json has the run's nodes with their edges, states, durations
// and errors, and names the child run of a sub-workflow node; the page and
// its embedded assets are served; bad and unknown ids are told apart.
func TestRunGraph(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.run(t, `{"name": "nested", "nodes": [
		{"id": "a", "kind": "echo"},
		{"id": "sub", "deps": ["a"], "workflow": {"nodes": [{"id": "x", "kind": "fail", "args": {"times": 9}, "max_attempts": 1}]}},
		{"id": "after", "kind": "noop", "deps": ["sub"]}]}`)
	require.Equal(t, flow.RunStateFailed, run.State)

	code, body := b.get(t, fmt.Sprintf("/runs/%d.json", run.ID))
	require.Equal(t, http.StatusOK, code, body)
	var g graphJSON
	require.NoError(t, json.Unmarshal([]byte(body), &g))
	require.Equal(t, "failed", g.Run.State)
	require.True(t, g.Run.Finished)
	require.Equal(t, "/riverui/jobs/", g.RiverUI)
	byID := map[string]int{}
	for i, n := range g.Nodes {
		byID[n.ID] = i
	}
	require.Len(t, g.Nodes, 3)
	a, sub, after := g.Nodes[byID["a"]], g.Nodes[byID["sub"]], g.Nodes[byID["after"]]
	require.Equal(t, "completed", a.State)
	require.NotNil(t, a.DurationMS)
	require.Empty(t, a.Parents)
	require.Equal(t, []string{"a"}, sub.Parents)
	require.Equal(t, "discarded", sub.State)
	require.Contains(t, sub.LastError, "sub-run")
	require.NotNil(t, sub.ChildRunID)
	require.Equal(t, []string{"sub"}, after.Parents)
	require.Equal(t, "cancelled", after.State)

	code, body = b.get(t, fmt.Sprintf("/runs/%d.json", *sub.ChildRunID))
	require.Equal(t, http.StatusOK, code)
	var child graphJSON
	require.NoError(t, json.Unmarshal([]byte(body), &child))
	require.Equal(t, run.ID, child.Run.TopRunID)
	require.Len(t, child.Nodes, 1)
	require.Equal(t, "discarded", child.Nodes[0].State)
	require.Contains(t, child.Nodes[0].LastError, "fail")

	code, body = b.get(t, fmt.Sprintf("/runs/%d", run.ID))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `data-run="`+fmt.Sprint(run.ID)+`"`)
	require.Contains(t, body, "/runs/assets/dagre.min.js")
	for _, asset := range []string{"dagre.min.js", "run.js", "style.css", "dagre.LICENSE"} {
		code, _ := b.get(t, "/runs/assets/"+asset)
		require.Equal(t, http.StatusOK, code, asset)
	}

	code, _ = b.get(t, "/runs/999999")
	require.Equal(t, http.StatusNotFound, code)
	code, body = b.get(t, "/runs/x1")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "positive integer")
}

// /runs/ lists top runs, newest first, filtered by state and by name.
func TestRunList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ok := b.run(t, diamond)
	bad := b.run(t, `{"name": "broken", "nodes": [{"id": "x", "kind": "fail", "args": {"times": 5}, "max_attempts": 1}]}`)
	row := func(id int64) string { return fmt.Sprintf(`<tr data-run="%d">`, id) }

	_, body := b.get(t, "/runs/")
	require.Contains(t, body, row(ok.ID))
	require.Contains(t, body, row(bad.ID))
	require.Less(t, indexOf(body, row(bad.ID)), indexOf(body, row(ok.ID)), "newest first")

	_, body = b.get(t, "/runs/?state=failed")
	require.Contains(t, body, row(bad.ID))
	require.NotContains(t, body, row(ok.ID))
	_, body = b.get(t, "/runs/?name=DIAM")
	require.Contains(t, body, row(ok.ID))
	require.NotContains(t, body, row(bad.ID))
	code, body := b.get(t, "/runs/?state=bogus")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "want pending, running")
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// /runs/{id}.json shows a run's deadline and why it was cancelled (the run
// page's summary prints both).
func TestRunGraphDeadlineAndCancelReason(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runID int64
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT flow.start($1::jsonb)",
		`{"timeout_ms": 3600000, "nodes": [{"id": "a", "kind": "noop", "deps": ["b"]}, {"id": "b", "kind": "sleep", "args": {"ms": 60000}}]}`).
		Scan(&runID))
	_, err := b.flow.Cancel(b.ctx, runID)
	require.NoError(t, err)

	code, body := b.get(t, fmt.Sprintf("/runs/%d.json", runID))
	require.Equal(t, http.StatusOK, code, body)
	var g struct {
		Run struct {
			TimeoutMS    int64   `json:"timeout_ms"`
			DeadlineAt   *string `json:"deadline_at"`
			CancelReason string  `json:"cancel_reason"`
		} `json:"run"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &g))
	require.Equal(t, int64(3600000), g.Run.TimeoutMS)
	require.NotNil(t, g.Run.DeadlineAt)
	require.Equal(t, fmt.Sprintf("run %d was cancelled", runID), g.Run.CancelReason)
}
