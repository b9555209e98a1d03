package flow_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// TreeTotals counts a top run with every run below it, follows the counters
// as they change, and refuses a child run's id.
func TestTreeTotals(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// Root sub-workflow nodes start their child runs with the run, so this
	// tree has three runs of two nodes each before any worker runs.
	nested, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"nodes": [
		{"id": "sub", "workflow": {"nodes": [
			{"id": "inner", "workflow": {"nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop"}]}},
			{"id": "c", "kind": "noop"}]}},
		{"id": "d", "kind": "noop", "deps": ["sub"]}]}`))
	require.NoError(t, err)
	flat, err := b.flow.Start(b.ctx, flow.JSONSpec(`{"nodes": [{"id": "a", "kind": "noop"}]}`))
	require.NoError(t, err)

	const missing = 1 << 40
	totals, err := b.flow.TreeTotals(b.ctx, []int64{nested, flat, missing})
	require.NoError(t, err)
	require.Equal(t, map[int64]flow.TreeTotals{
		nested: {Runs: 3, Nodes: 6, Unfinished: 6},
		flat:   {Runs: 1, Nodes: 1, Unfinished: 1},
	}, totals, "a missing run has no entry")

	cancelled, err := b.flow.Cancel(b.ctx, nested)
	require.NoError(t, err)
	require.True(t, cancelled)
	totals, err = b.flow.TreeTotals(b.ctx, []int64{nested})
	require.NoError(t, err)
	require.Equal(t, flow.TreeTotals{Runs: 3, Nodes: 6, Failed: 6}, totals[nested], "every level was cancelled")

	tree, err := b.flow.Tree(b.ctx, nested)
	require.NoError(t, err)
	require.Equal(t, "sub", tree[0].Path)
	require.NotNil(t, tree[0].ChildRunID)
	_, err = b.flow.TreeTotals(b.ctx, []int64{flat, *tree[0].ChildRunID})
	require.ErrorContains(t, err, "is a child run")

	totals, err = b.flow.TreeTotals(b.ctx, nil)
	require.NoError(t, err)
	require.Empty(t, totals)
}
