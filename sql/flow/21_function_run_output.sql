-- A run's output: the "output" node's output, a map's outputs in element
-- order, or else the completed sink nodes' outputs keyed by node id.
CREATE OR REPLACE FUNCTION flow.run_output(p_run_id bigint, p_is_map boolean, p_output_node text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p_is_map THEN
            (SELECT coalesce(jsonb_agg(j.metadata -> 'output' ORDER BY n.node_id::integer), '[]'::jsonb)
               FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
              WHERE n.run_id = p_run_id)
        WHEN p_output_node IS NOT NULL THEN
            (SELECT j.metadata -> 'output'
               FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
              WHERE n.run_id = p_run_id AND n.node_id = p_output_node AND j.state = 'completed')
        ELSE flow.sink_outputs(p_run_id)
    END;
$$;
COMMENT ON FUNCTION flow.run_output(bigint, boolean, text) IS 'A run''s output: its "output" node''s, a map''s array in element order, or its sink nodes'' keyed by id.';
