-- What a node reads of its run, in one query (Go: flow.Inputs): the run's
-- input (a child run's by reference: flow.run_input), its parents' outputs
-- keyed by node id, and "item", its element, for a node of a map.
CREATE OR REPLACE FUNCTION flow.node_inputs(p_job_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
               'input', CASE WHEN r.input_from_parent THEN flow.run_input(r.id) ELSE r.input END,
               'parents', coalesce(ps.outputs, '{}'::jsonb),
               'states', coalesce(ps.states, '{}'::jsonb))
           || CASE WHEN self.metadata ? 'flow_item' THEN jsonb_build_object('item', self.metadata -> 'flow_item')
                   ELSE '{}'::jsonb END
      FROM flow.node n
      JOIN flow.run r ON r.id = n.run_id
      JOIN public.river_job self ON self.id = n.job_id
     CROSS JOIN LATERAL (
         SELECT jsonb_object_agg(p.node_id, j.metadata -> 'output') AS outputs,
                jsonb_object_agg(p.node_id, CASE WHEN j.state = 'completed' AND j.metadata ? 'flow_skipped' THEN 'skipped'
                                                 ELSE coalesce(j.state::text, 'deleted') END) AS states
           FROM flow.node p
           LEFT JOIN public.river_job j ON j.id = p.job_id
          WHERE p.job_id = ANY (n.parents)) ps
     WHERE n.job_id = p_job_id;
$$;
COMMENT ON FUNCTION flow.node_inputs(bigint) IS 'What a node reads: {"input": the run input, "parents": outputs keyed by node id, "states": their states (completed, skipped, cancelled, discarded), "item": its element for a node of a map}.';
