package flowtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/htdag/htdag/flow"
)

// RequireInvariants checks, in SQL, the invariants that htdag's release
// trigger keeps for one run, and fails tb naming each one broken:
//
//   - flow.node.waiting = number of the node's parents whose job is not completed
//   - no node left pending (except to be cancelled or skipped) before its
//     trigger rule let it run
//   - flow.run.unfinished = nodes not completed, cancelled or discarded
//   - flow.run.failed = nodes cancelled or discarded
//   - a finished run has unfinished = 0 (and an unfinished one is not finished)
//   - a finished run's output is its completed sinks' outputs
//   - a node waiting for a child run is pending exactly while that run is
//     unfinished, and a finished child run's outcome is its node's
//   - liveness: in a run that is not finished no pending node is one its
//     trigger rule has decided on from its parents' states (a lost release,
//     skip or cancel: by default, all parents completed, or one failed;
//     a wait node waiting for a signal is not one), and some node can still
//     make progress (a wait node waiting for a signal can, and so does a
//     node waiting for a slot of its concurrency key: its key's slots are
//     held elsewhere)
//
// Call it after a scenario, on a run that is finished or that nothing
// changes meanwhile (no River client working it). The waiting counts are
// reported for every node at once.
func RequireInvariants(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, runID int64) {
	tb.Helper()

	var exists bool
	require.NoError(tb, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM flow.run WHERE id = $1)", runID).Scan(&exists))
	require.True(tb, exists, "run %d does not exist", runID)

	// The engine's own check (flow.check, `worker doctor`) finds nothing
	// that breaks the engine's invariants (what the fleet or the clock will
	// do is the test's to assert).
	all, err := flow.NewClient(pool, nil).Check(ctx, runID)
	require.NoError(tb, err)
	var problems []flow.Problem
	for _, p := range all {
		if p.Category.Invariant() {
			problems = append(problems, p)
		}
	}
	require.Empty(tb, problems, "flow.check(%d)", runID)

	rows, err := pool.Query(ctx, `
		SELECT n.node_id, n.waiting,
		       (SELECT count(*) FROM unnest(n.parents) AS p(id) JOIN river_job pj ON pj.id = p.id
		         WHERE pj.state <> 'completed')::int AS want
		  FROM flow.node n
		 WHERE n.run_id = $1
		   AND n.waiting <> (SELECT count(*) FROM unnest(n.parents) AS p(id) JOIN river_job pj ON pj.id = p.id
		                      WHERE pj.state <> 'completed')
		 ORDER BY n.job_id`, runID)
	require.NoError(tb, err)
	for rows.Next() {
		var node string
		var waiting, want int
		require.NoError(tb, rows.Scan(&node, &waiting, &want))
		tb.Errorf("run %d: node %q has waiting = %d, but %d of its parents are not completed", runID, node, waiting, want)
	}
	require.NoError(tb, rows.Err())

	// Order: a node that left pending (other than by being cancelled or
	// skipped) had its trigger rule let it run first (by default: all its
	// parents completed). A node of another rule that completed may have
	// had a parent retried since, so only its unfinished states are checked.
	var early []string
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(n.node_id ORDER BY n.job_id), '{}')
		  FROM flow.node n JOIN river_job j ON j.id = n.job_id
		 WHERE n.run_id = $1 AND j.state NOT IN ('pending', 'cancelled') AND NOT j.metadata ? 'flow_skipped'
		   AND (n.trigger_rule IS NULL OR j.state NOT IN ('completed', 'discarded'))
		   AND flow.rule_decision(n.trigger_rule, n.waiting, n.failed_parents, n.skipped_parents) IS DISTINCT FROM 'run'`,
		runID).Scan(&early))
	require.Empty(tb, early, "run %d: nodes released before their trigger rule let them run", runID)

	// Every node's job must exist (the tests never run River's cleaner), or
	// the counts below would be meaningless.
	var missing int
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT count(*) FROM flow.node n WHERE n.run_id = $1
		   AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = n.job_id)`, runID).Scan(&missing))
	require.Zero(tb, missing, "run %d: nodes without a river_job row", runID)

	var (
		state                               string
		nodeCount, unfinished, failed       int
		wantNodes, wantUnfinished, wantFail int
		finishedAt, outputMatches           bool
	)
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT r.state, r.node_count, r.unfinished, r.failed, r.finished_at IS NOT NULL,
		       (r.output IS NOT DISTINCT FROM CASE WHEN r.unfinished = 0 THEN flow.run_output(r.id, r.is_map, r.output_node) END),
		       count(*)::int,
		       (count(*) FILTER (WHERE j.state NOT IN ('completed', 'cancelled', 'discarded')))::int,
		       (count(*) FILTER (WHERE j.state IN ('cancelled', 'discarded')))::int
		  FROM flow.run r
		  JOIN flow.node n ON n.run_id = r.id
		  JOIN river_job j ON j.id = n.job_id
		 WHERE r.id = $1
		 GROUP BY r.id`, runID).
		Scan(&state, &nodeCount, &unfinished, &failed, &finishedAt, &outputMatches, &wantNodes, &wantUnfinished, &wantFail))
	require.Equal(tb, wantNodes, nodeCount, "run %d: node_count", runID)
	require.Equal(tb, wantUnfinished, unfinished, "run %d: unfinished", runID)
	require.Equal(tb, wantFail, failed, "run %d: failed", runID)

	finished := state == "completed" || state == "failed" || state == "cancelled"
	require.Equal(tb, finished, unfinished == 0, "run %d: state %s with unfinished = %d", runID, state, unfinished)
	require.Equal(tb, finished, finishedAt, "run %d: state %s and finished_at", runID, state)
	require.True(tb, outputMatches, "run %d: output is not its completed sinks' (or output node's, or map's) outputs", runID)
	if finished {
		require.Equal(tb, failed == 0, state == "completed", "run %d: state %s with failed = %d", runID, state, failed)
		return
	}

	// Liveness of an unfinished run.
	var lostDecision []string
	var progress int
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(format('%s (%s)', n.node_id, d.decision) ORDER BY n.job_id)
		                    FILTER (WHERE j.state = 'pending' AND c.id IS NULL AND d.decision IS NOT NULL
		                              AND NOT j.metadata ? 'flow_waiting_since'
		                              AND NOT (d.decision = 'run' AND w.job_id IS NOT NULL)), '{}'),
		       (count(*) FILTER (WHERE j.state IN ('running', 'available', 'scheduled', 'retryable')
		                            OR (j.state = 'pending' AND c.state IN ('pending', 'running'))
		                            OR (j.state = 'pending' AND j.metadata ? 'flow_waiting_since')
		                            OR (j.state = 'pending' AND w.job_id IS NOT NULL)))::int
		  FROM flow.node n JOIN river_job j ON j.id = n.job_id
		  LEFT JOIN flow.run c ON c.parent_job_id = n.job_id
		  LEFT JOIN flow.concurrency_wait w ON w.job_id = n.job_id
		 CROSS JOIN LATERAL (
		     SELECT flow.rule_decision(n.trigger_rule,
		                count(*) FILTER (WHERE pj.state <> 'completed')::int,
		                count(*) FILTER (WHERE pj.state IN ('cancelled', 'discarded'))::int,
		                count(*) FILTER (WHERE pj.state = 'completed' AND pj.metadata ? 'flow_skipped')::int) AS decision
		       FROM river_job pj WHERE pj.id = ANY (n.parents)) d
		 WHERE n.run_id = $1`, runID).Scan(&lostDecision, &progress))
	require.Empty(tb, lostDecision, "run %d: pending nodes their trigger rule has decided on (a lost release, skip or cancel)", runID)
	require.Positive(tb, progress, "run %d is unfinished but no node can run", runID)
}

// RequireTreeInvariants checks [RequireInvariants] for the run and every run
// below it, that each child run agrees with the node that waits for it
// (pending while the child run is unfinished; completed with the child's
// output, discarded or cancelled once it completed, failed or was cancelled)
// and, for a top run, that its tree's node count (flow.tree_size, which
// max_tree_nodes is checked against) is the number of nodes in the tree.
func RequireTreeInvariants(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, runID int64) {
	tb.Helper()
	rows, err := pool.Query(ctx, `
		WITH RECURSIVE t AS (
		    SELECT id FROM flow.run WHERE id = $1
		    UNION ALL
		    SELECT c.id FROM flow.run c JOIN t ON c.parent_run_id = t.id)
		SELECT id FROM t ORDER BY id`, runID)
	require.NoError(tb, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(tb, err)
	for _, id := range ids {
		RequireInvariants(ctx, tb, pool, id)
	}
	requireChildRunsAgree(ctx, tb, pool, ids)
	requireTreeSize(ctx, tb, pool, runID)
}

// RequireTreeChecked is [RequireTreeInvariants] for large trees, in a few
// queries whatever the tree's size: flow.check (the engine's own check, as
// `worker doctor` runs it) on every run of the tree, the child runs'
// agreement with their nodes, and the tree's node count.
func RequireTreeChecked(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, runID int64) {
	tb.Helper()
	rows, err := pool.Query(ctx, "SELECT id FROM flow.run WHERE id = $1 OR root_run_id = $1 ORDER BY id", runID)
	require.NoError(tb, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(tb, err)
	var problems []string
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(format('run %s node %s: %s', c.run_id, c.node_id, c.problem)), '{}')
		  FROM unnest($1::bigint[]) AS r(id) CROSS JOIN LATERAL flow.check(r.id) c
		 WHERE c.category IN ('consistency', 'stuck')`, ids).Scan(&problems))
	require.Empty(tb, problems)
	requireChildRunsAgree(ctx, tb, pool, ids)
	requireTreeSize(ctx, tb, pool, runID)
}

// requireChildRunsAgree checks that each child run among ids agrees with the
// node that waits for it.
func requireChildRunsAgree(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, ids []int64) {
	tb.Helper()

	var mismatched []string
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(format('run %s (node job %s): run %s, node %s', c.id, c.parent_job_id, c.state, j.state)), '{}')
		  FROM flow.run c JOIN river_job j ON j.id = c.parent_job_id
		 WHERE c.id = ANY ($1)
		   AND NOT CASE c.state
		           WHEN 'completed' THEN j.state = 'completed' AND j.metadata -> 'output' IS NOT DISTINCT FROM c.output
		           WHEN 'failed'    THEN j.state IN ('discarded', 'cancelled')
		           WHEN 'cancelled' THEN j.state = 'cancelled'
		           ELSE j.state IN ('pending', 'cancelled') END`, ids).Scan(&mismatched))
	require.Empty(tb, mismatched, "child runs whose node disagrees with them")
}

// requireTreeSize checks, for a top run, that flow.tree_size (the count that
// max_tree_nodes is checked against) is the number of nodes in its tree.
func requireTreeSize(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, runID int64) {
	tb.Helper()
	var counted, nodes []int64
	require.NoError(tb, pool.QueryRow(ctx, `
		SELECT array_agg(flow.tree_size(r.id)),
		       array_agg((SELECT count(*) FROM flow.node n JOIN flow.run x ON x.id = n.run_id
		                   WHERE x.id = r.id OR x.root_run_id = r.id))
		  FROM flow.run r WHERE r.id = $1 AND r.parent_run_id IS NULL`, runID).Scan(&counted, &nodes))
	require.Equal(tb, nodes, counted, "run %d: flow.tree_size against the nodes of its tree", runID)
}
