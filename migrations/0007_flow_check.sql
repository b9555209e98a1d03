-- "Why is it not running?" and "is anything wrong?" for psql users.

-- One row per pending node of an unfinished run: the parents it still waits
-- on and their states (a parent whose job is gone shows 'deleted').
CREATE VIEW flow.blocked AS
SELECT n.run_id,
       n.node_id,
       n.job_id,
       n.waiting,
       array_agg(p.node_id ORDER BY p.node_id) FILTER (WHERE pj.state IS DISTINCT FROM 'completed') AS waiting_on,
       jsonb_object_agg(p.node_id, coalesce(pj.state::text, 'deleted'))
           FILTER (WHERE pj.state IS DISTINCT FROM 'completed') AS parent_states
  FROM flow.node n
  JOIN flow.run r ON r.id = n.run_id AND r.state IN ('pending', 'running')
  JOIN public.river_job j ON j.id = n.job_id AND j.state = 'pending'
  JOIN flow.node p ON p.job_id = ANY (n.parents)
  LEFT JOIN public.river_job pj ON pj.id = p.job_id
 GROUP BY n.run_id, n.node_id, n.job_id, n.waiting;
COMMENT ON VIEW flow.blocked IS 'Pending nodes of unfinished runs, with the parents each still waits on and their states.';

-- The engine's invariants, checked against the jobs: one row per problem.
-- For one run (any state) when p_run_id is given, else for every unfinished
-- run. A healthy database returns nothing; `worker doctor` runs this.
CREATE FUNCTION flow.check(p_run_id bigint DEFAULT NULL)
RETURNS TABLE (run_id bigint, node_id text, problem text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH runs AS (
        SELECT r.* FROM flow.run r
         WHERE CASE WHEN p_run_id IS NULL THEN r.state IN ('pending', 'running') ELSE r.id = p_run_id END
    ), nodes AS (
        SELECT n.run_id, n.node_id, n.job_id, n.waiting, n.parents, j.state::text AS state,
               (SELECT count(*) FROM public.river_job pj
                 WHERE pj.id = ANY (n.parents) AND pj.state <> 'completed')::integer AS parents_unfinished
          FROM flow.node n
          JOIN runs ON runs.id = n.run_id
          LEFT JOIN public.river_job j ON j.id = n.job_id
    ), counts AS (
        SELECT runs.id,
               count(*) FILTER (WHERE nodes.state IS NULL OR nodes.state NOT IN ('completed', 'cancelled', 'discarded'))::integer AS unfinished,
               count(*) FILTER (WHERE nodes.state IN ('cancelled', 'discarded'))::integer AS failed,
               count(*) FILTER (WHERE nodes.state IN ('available', 'scheduled', 'running', 'retryable'))::integer AS runnable,
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
    SELECT n.run_id, n.node_id, 'pending although all its parents completed (a lost release)'
      FROM nodes n
     WHERE n.state = 'pending' AND n.parents_unfinished = 0
    UNION ALL
    SELECT n.run_id, n.node_id, format('%s although %s parents have not completed', n.state, n.parents_unfinished)
      FROM nodes n
     WHERE n.state IN ('available', 'scheduled', 'running', 'retryable') AND n.parents_unfinished > 0;
$$;
COMMENT ON FUNCTION flow.check(bigint) IS 'Problems with runs (counts that disagree with their jobs, stuck runs, lost releases); empty when healthy. All unfinished runs, or one run.';
