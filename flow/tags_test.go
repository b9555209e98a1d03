package flow_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every flow job carries River tags naming its run and node, and in a child
// run its top run, so River UI can filter one run's or one tree's jobs.
func TestJobsAreTaggedWithTheirRunAndNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	top := b.startSQL(t, `{"nodes": [
		{"id": "sub", "workflow": {"nodes": [{"id": "in.ner:1", "kind": "noop"}]}},
		{"id": "after", "kind": "noop", "deps": ["sub"]}]}`)
	var child int64
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT id FROM flow.run WHERE parent_run_id = $1", top).Scan(&child))

	tags := func(runID int64, node string) []string {
		t.Helper()
		var got []string
		require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT tags FROM river_job WHERE id = $1", b.jobID(t, runID, node)).Scan(&got))
		return got
	}
	require.Equal(t, []string{fmtTag("flow_run", top), "flow_node:after"}, tags(top, "after"))
	require.Equal(t, []string{fmtTag("flow_run", top), "flow_node:sub"}, tags(top, "sub"))
	require.Equal(t, []string{fmtTag("flow_run", child), "flow_node:in.ner:1", fmtTag("flow_tree", top)}, tags(child, "in.ner:1"))

	var tagged int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM river_job WHERE tags && ARRAY[$1]::varchar[]", fmtTag("flow_run", top)).Scan(&tagged))
	require.Equal(t, 2, tagged, "the top run's own jobs")
}

func fmtTag(name string, id int64) string {
	return name + ":" + strconv.FormatInt(id, 10)
}
