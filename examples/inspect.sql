-- Queries a psql user runs against htdag. Every object used here is created by
-- the migrations, defined in sql/flow (see README "Inspecting with psql"). Run with:
--   psql "$DATABASE_URL" -f examples/inspect.sql

-- Start the diamond from SQL, in your own transaction.
BEGIN;
SELECT flow.start('{"name": "diamond", "input": {"path": "/src"},
  "nodes": [
    {"id": "a", "kind": "echo", "args": {"x": 1}},
    {"id": "b", "kind": "echo", "deps": ["a"]},
    {"id": "c", "kind": "sleep", "args": {"ms": 10}, "deps": ["a"], "max_attempts": 3},
    {"id": "d", "kind": "echo", "deps": ["b", "c"]}]}') AS run_id \gset
COMMIT;

-- Latest runs and where they stand.
SELECT id, name, state, nodes, pending, available, running, completed, cancelled, discarded, duration
  FROM flow.runs ORDER BY id DESC LIMIT 10;

-- The nodes of the run just started.
SELECT node_id, kind, state, attempt, max_attempts, parents, waiting, last_error
  FROM flow.nodes WHERE run_id = :run_id ORDER BY job_id;

-- Runs still going, oldest first.
SELECT id, name, state, unfinished, created_at FROM flow.run
 WHERE state IN ('pending', 'running') ORDER BY id;

-- Why a node has not started: its parents and their states.
SELECT n.node_id, p.node_id AS parent, pj.state AS parent_state
  FROM flow.node n
  JOIN flow.node p ON p.job_id = ANY (n.parents)
  JOIN river_job pj ON pj.id = p.job_id
 WHERE n.run_id = :run_id AND n.waiting > 0;

-- Check a spec without starting it.
SELECT flow.spec_problem('{"nodes": [{"id": "a", "kind": "noop", "deps": ["a"]}]}');
