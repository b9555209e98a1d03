-- A whole tree in one query: one row per node of the run and of every run
-- below it, in depth-first order (a node's child run follows the node).
-- path is the node's place from the top: "sub/m/7" is node "7" of the child
-- run of node "m" of the child run of node "sub". Empty for a run the caller
-- may not see (flow.can_see: an admin, or a member of the run's owner).
-- state is as in flow.nodes (skipped, waiting, deleted besides River's).
CREATE OR REPLACE FUNCTION flow.tree(p_run_id bigint)
RETURNS TABLE (run_id bigint, depth integer, run_state text, path text, node_id text, job_id bigint, kind text,
               state text, attempt smallint, child_run_id bigint, last_error text, output jsonb)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Row estimates for recursive queries are guesses, and large ones bought a
-- JIT compile longer than the query; every step here is an index lookup.
SET jit = off
SET enable_seqscan = off
SET enable_hashjoin = off
AS $$
    WITH RECURSIVE runs AS (
        SELECT r.id, r.depth, r.state, ARRAY[]::bigint[] AS sort_key, ''::text AS prefix
          FROM flow.run r WHERE r.id = p_run_id AND flow.can_see(r.owner)
        UNION ALL
        SELECT c.id, c.depth, c.state, runs.sort_key || c.parent_job_id, runs.prefix || pn.node_id || '/'
          FROM runs
          JOIN flow.run c ON c.parent_run_id = runs.id
          JOIN flow.node pn ON pn.job_id = c.parent_job_id
    )
    SELECT runs.id, runs.depth, runs.state, runs.prefix || n.node_id, n.node_id, n.job_id, j.kind,
           CASE WHEN j.state = 'completed' AND j.metadata ? 'flow_skipped' THEN 'skipped'
                WHEN j.state IN ('pending', 'scheduled') AND j.metadata ? 'flow_waiting_since' THEN 'waiting'
                ELSE coalesce(j.state::text, 'deleted') END,
           j.attempt, ch.id,
           coalesce(j.metadata ->> 'flow_skipped', j.errors[array_upper(j.errors, 1)] ->> 'error'), j.metadata -> 'output'
      FROM runs
      JOIN flow.node n ON n.run_id = runs.id
      LEFT JOIN public.river_job j ON j.id = n.job_id
      LEFT JOIN flow.run ch ON ch.parent_job_id = n.job_id
     ORDER BY runs.sort_key || n.job_id;
$$;
COMMENT ON FUNCTION flow.tree(bigint) IS 'Every node of a run and of all runs below it, depth first, with its path from the top, state, child run and last error.';
