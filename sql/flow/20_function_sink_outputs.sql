-- Completed sink nodes' outputs (nodes nobody depends on), keyed by node id:
-- a run's output unless its spec names an "output" node (flow.run_output).
CREATE OR REPLACE FUNCTION flow.sink_outputs(p_run_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_object_agg(n.node_id, j.metadata -> 'output'), '{}'::jsonb)
      FROM flow.node n
      JOIN public.river_job j ON j.id = n.job_id
     WHERE n.run_id = p_run_id AND n.children = '{}' AND j.state = 'completed';
$$;
COMMENT ON FUNCTION flow.sink_outputs(bigint) IS 'A run''s output: its completed sink nodes'' outputs keyed by node id.';
