-- flow.check(run_id): what is wrong with one run (any state), or with NULL
-- with every unfinished run; no rows when all is well. It compares the
-- counters the trigger keeps with the jobs themselves, and looks for runs that
-- can never finish: nothing runnable, lost releases, nodes waiting for child
-- runs that already finished, orphaned child runs, nodes runnable before
-- their parents completed. `worker doctor` prints it.
CREATE OR REPLACE FUNCTION flow.check(p_run_id bigint DEFAULT NULL)
RETURNS TABLE (run_id bigint, node_id text, problem text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH runs AS (
        -- Two branches, each through an index (a CASE here read every run).
        SELECT r.* FROM flow.run r WHERE r.id = p_run_id
        UNION ALL
        SELECT r.* FROM flow.run r WHERE p_run_id IS NULL AND r.state IN ('pending', 'running')
    ), nodes AS (
        SELECT n.run_id, n.node_id, n.job_id, n.waiting, n.parents, n.mode, j.state::text AS state,
               c.id AS child_id, c.state AS child_state,
               (SELECT count(*) FROM public.river_job pj
                 WHERE pj.id = ANY (n.parents) AND pj.state <> 'completed')::integer AS parents_unfinished
          FROM flow.node n
          JOIN runs ON runs.id = n.run_id
          LEFT JOIN public.river_job j ON j.id = n.job_id
          LEFT JOIN flow.run c ON c.parent_job_id = n.job_id
    ), counts AS (
        SELECT runs.id,
               count(*) FILTER (WHERE nodes.state IS NULL OR nodes.state NOT IN ('completed', 'cancelled', 'discarded'))::integer AS unfinished,
               count(*) FILTER (WHERE nodes.state IN ('cancelled', 'discarded'))::integer AS failed,
               count(*) FILTER (WHERE nodes.state IN ('available', 'scheduled', 'running', 'retryable')
                                   OR (nodes.state = 'pending' AND nodes.child_state IN ('pending', 'running')))::integer AS runnable,
               bool_or(nodes.state IS NULL) AS deleted
          FROM runs JOIN nodes ON nodes.run_id = runs.id
         GROUP BY runs.id
    )
    SELECT r.id, NULL::text,
           format('unfinished is %s but %s nodes are not finished', r.unfinished, c.unfinished)
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.unfinished <> c.unfinished AND NOT c.deleted
    UNION ALL
    SELECT r.id, NULL, format('failed is %s but %s nodes are cancelled or discarded', r.failed, c.failed)
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.failed <> c.failed AND NOT c.deleted
    UNION ALL
    SELECT r.id, NULL, format('run is %s but none of its nodes can run (stuck)', r.state)
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.runnable = 0
    UNION ALL
    SELECT r.id, NULL, 'some of its jobs were deleted while the run is unfinished'
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.deleted
    UNION ALL
    SELECT n.run_id, n.node_id, format('waiting is %s but %s parents have not completed', n.waiting, n.parents_unfinished)
      FROM nodes n
     WHERE n.state IS NOT NULL AND n.waiting <> n.parents_unfinished
    UNION ALL
    SELECT n.run_id, n.node_id,
           CASE WHEN n.mode IS NULL THEN 'pending although all its parents completed (a lost release)'
                ELSE format('a %s node whose parents completed, but its child run never started', n.mode) END
      FROM nodes n
     WHERE n.state = 'pending' AND n.parents_unfinished = 0 AND n.child_id IS NULL
    UNION ALL
    SELECT n.run_id, n.node_id, format('pending, waiting for its child run %s, which is already %s', n.child_id, n.child_state)
      FROM nodes n
     WHERE n.state = 'pending' AND n.child_state IN ('completed', 'failed', 'cancelled')
    UNION ALL
    SELECT r.id, NULL, format('its node (job %s) is already %s but the run is %s and not being cancelled (an orphaned child run)',
                              r.parent_job_id, pj.state, r.state)
      FROM runs r JOIN public.river_job pj ON pj.id = r.parent_job_id
     WHERE r.state IN ('pending', 'running')
       AND (pj.state IN ('completed', 'discarded') OR (pj.state = 'cancelled' AND r.cancelled_at IS NULL))
    UNION ALL
    SELECT n.run_id, n.node_id, format('%s although %s parents have not completed', n.state, n.parents_unfinished)
      FROM nodes n
     WHERE n.state IN ('available', 'scheduled', 'running', 'retryable') AND n.parents_unfinished > 0;
$$;
COMMENT ON FUNCTION flow.check(bigint) IS 'Problems with runs (counts that disagree with their jobs, stuck runs, lost releases); empty when healthy. One run, or (NULL) every unfinished run.';
