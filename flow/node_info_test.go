package flow_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// NodeStates holds every state River's job table can hold (the database's
// own enum, so a state River adds is caught here), plus skipped and deleted.
func TestNodeStatesCoverRiversJobStates(t *testing.T) {
	t.Parallel()
	b := setup(t)

	var enum []string
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT enum_range(NULL::river_job_state)::text[]").Scan(&enum))
	want := []flow.NodeState{flow.NodeStateSkipped, flow.NodeStateWaiting, flow.NodeStateDeleted}
	for _, s := range enum {
		want = append(want, flow.NodeState(s))
	}
	require.ElementsMatch(t, want, flow.NodeStates())

	for _, s := range flow.NodeStates() {
		require.Equal(t, s == flow.NodeStateCompleted || s == flow.NodeStateSkipped || s == flow.NodeStateCancelled || s == flow.NodeStateDiscarded, s.Finished(), s)
		require.Equal(t, s == flow.NodeStateCancelled || s == flow.NodeStateDiscarded, s.Failed(), s)
	}
}

// Nodes and Tree give each node's state typed, deleted for a node whose job
// row is gone.
func TestNodesAndTreeStates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]},
		{"id": "c", "kind": "noop", "deps": ["b"]}]}`)
	b.complete(t, runID, "a")

	// Only flow.delete_finished_runs deletes flow jobs; this is a hand-made
	// delete of one finished node, as a user could make.
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(b.ctx, "SET LOCAL flow.deleting_runs = on"); err != nil {
			return err
		}
		_, err := tx.Exec(b.ctx, "DELETE FROM river_job WHERE id = $1", b.jobID(t, runID, "a"))
		return err
	}))

	nodes, err := b.flow.Nodes(b.ctx, runID)
	require.NoError(t, err)
	got := map[string]flow.NodeState{}
	for _, n := range nodes {
		got[n.NodeID] = n.State
	}
	want := map[string]flow.NodeState{"a": flow.NodeStateDeleted, "b": flow.NodeStateAvailable, "c": flow.NodeStatePending}
	require.Equal(t, want, got)

	tree, err := b.flow.Tree(b.ctx, runID)
	require.NoError(t, err)
	got = map[string]flow.NodeState{}
	for _, n := range tree {
		got[n.Path] = n.State
	}
	require.Equal(t, want, got)
}
