-- Views for psql users, and the one-query read of a node's inputs.

-- One row per run. The per-state node counts come from the jobs themselves;
-- once River's cleaner has deleted a finished run's jobs they read 0, while
-- nodes/unfinished/failed (kept on flow.run) stay exact.
CREATE VIEW flow.runs AS
SELECT r.id,
       r.name,
       r.state,
       r.node_count AS nodes,
       c.pending,
       c.available,
       c.running,
       c.retryable,
       c.completed,
       c.cancelled,
       c.discarded,
       r.unfinished,
       r.failed,
       r.input,
       r.output,
       r.created_at,
       r.started_at,
       r.finished_at,
       r.finished_at - r.started_at AS duration
  FROM flow.run r
 CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE j.state = 'pending')                       AS pending,
               count(*) FILTER (WHERE j.state IN ('available', 'scheduled'))     AS available,
               count(*) FILTER (WHERE j.state = 'running')                       AS running,
               count(*) FILTER (WHERE j.state = 'retryable')                     AS retryable,
               count(*) FILTER (WHERE j.state = 'completed')                     AS completed,
               count(*) FILTER (WHERE j.state = 'cancelled')                     AS cancelled,
               count(*) FILTER (WHERE j.state = 'discarded')                     AS discarded
          FROM flow.node n
          JOIN public.river_job j ON j.id = n.job_id
         WHERE n.run_id = r.id
       ) c;
COMMENT ON VIEW flow.runs IS 'One row per run: state, node counts by job state, times and output.';

-- One row per node. state is the River job's state ('deleted' once River's
-- cleaner removed the job).
CREATE VIEW flow.nodes AS
SELECT n.run_id,
       n.node_id,
       n.job_id,
       j.kind,
       coalesce(j.state::text, 'deleted') AS state,
       j.attempt,
       j.max_attempts,
       j.queue,
       ARRAY(SELECT p.node_id FROM flow.node p WHERE p.job_id = ANY (n.parents) ORDER BY p.node_id) AS parents,
       n.waiting,
       j.errors[array_upper(j.errors, 1)] ->> 'error' AS last_error,
       j.args,
       j.metadata -> 'output' AS output,
       j.created_at,
       j.scheduled_at,
       j.attempted_at,
       j.finalized_at
  FROM flow.node n
  LEFT JOIN public.river_job j ON j.id = n.job_id;
COMMENT ON VIEW flow.nodes IS 'One row per node: its River job''s kind, state, attempts, parents (node ids), last error and output.';

-- A node's inputs in one query: the run's input and its parents' outputs keyed
-- by parent node id: {"input": ..., "parents": {"a": ..., "b": ...}}.
CREATE FUNCTION flow.node_inputs(p_job_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
               'input', r.input,
               'parents', coalesce((SELECT jsonb_object_agg(p.node_id, j.metadata -> 'output')
                                      FROM flow.node p
                                      JOIN public.river_job j ON j.id = p.job_id
                                     WHERE p.job_id = ANY (n.parents)), '{}'::jsonb))
      FROM flow.node n
      JOIN flow.run r ON r.id = n.run_id
     WHERE n.job_id = p_job_id;
$$;
COMMENT ON FUNCTION flow.node_inputs(bigint) IS 'The run input and the parents'' outputs (keyed by node id) of the node whose job id is given.';
