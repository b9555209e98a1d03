package flow_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// flow.check reports a count that disagrees with the jobs and a run that
// cannot make progress; flow.blocked says what a pending node waits on.
func TestCheckFindsBrokenInvariants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runID := b.startSQL(t, `{"nodes": [
		{"id": "a", "kind": "noop"},
		{"id": "b", "kind": "noop", "deps": ["a"]}]}`)

	var waitingOn []string
	var parentStates string
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT waiting_on, parent_states::text FROM flow.blocked WHERE run_id = $1 AND node_id = 'b'`, runID).
		Scan(&waitingOn, &parentStates))
	require.Equal(t, []string{"a"}, waitingOn)
	require.JSONEq(t, `{"a": "available"}`, parentStates)

	// Break it by hand: b's count, and a stranded in pending (no release will
	// ever come, as if a wake-up or release had been lost).
	_, err := b.pool.Exec(b.ctx, `UPDATE flow.node SET waiting = 0 WHERE run_id = $1 AND node_id = 'b'`, runID)
	require.NoError(t, err)
	tx, err := b.pool.Begin(b.ctx) // the trigger and guards stand aside, as for flow.retry
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `SELECT set_config('flow.in_trigger', 'on', true)`)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `UPDATE river_job SET state = 'pending' WHERE id = $1`, b.jobID(t, runID, "a"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit(b.ctx))

	problems, err := b.flow.Check(b.ctx, 0)
	require.NoError(t, err)
	require.ElementsMatch(t, []flow.Problem{
		{RunID: runID, Problem: "run is pending but none of its nodes can run (stuck)", Category: flow.ProblemStuck},
		{RunID: runID, NodeID: "a", Problem: "pending although all its parents completed (a lost release)", Category: flow.ProblemStuck},
		{RunID: runID, NodeID: "b", Problem: "waiting is 0 but 1 parents have not completed", Category: flow.ProblemConsistency},
	}, problems)
}
