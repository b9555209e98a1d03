-- Starts a released sub-workflow or map node: inserts its child run and
-- returns NULL, or returns the node's output when it is finished at once (a
-- map over an empty array: []). Raises SQLSTATE 22023 when the node cannot
-- start (a map over something that is not an array, a limit exceeded).
-- A child run's input is the spec's "input" when it has one, else the node's
-- own inputs ({"input": ..., "parents": {...}}, see flow.node_inputs), by
-- reference; the child runs of a mapped workflow get their element as input.
-- The elements of a map of tasks get its "concurrency" (README "Concurrency
-- keys"), so a key path may read "$.item".
-- The workflow was checked whole when its top run started: only its own
-- level is checked again here, for its ids and edges, so that a deep tree
-- costs time linear in its spec.
CREATE OR REPLACE FUNCTION flow.start_node(p_job bigint) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v       record;
    v_check record;
    v_items jsonb;
    v_nodes jsonb;
    v_ids   text[];
BEGIN
    SELECT j.id, j.kind, j.args, j.metadata, j.queue, j.priority, j.max_attempts, n.node_id, n.run_id
      INTO STRICT v
      FROM public.river_job j JOIN flow.node n ON n.job_id = j.id
     WHERE j.id = p_job;

    IF v.kind = 'flow.workflow' THEN
        SELECT * INTO v_check
          FROM flow.spec_check_at(v.args, (flow.limits_of((SELECT r.owner FROM flow.run r WHERE r.id = v.run_id))).max_nodes, true, false);
        IF v_check.problem IS NOT NULL THEN
            RAISE EXCEPTION 'node % has an invalid workflow: %', to_json(v.node_id), v_check.problem
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM flow.start_child(p_job, v.run_id, v.args, v.args -> 'input', false,
                                 v_check.ids, v_check.edge_parent, v_check.edge_child);
        RETURN NULL;
    END IF;

    -- A map: one node per element of the mapped parent's output.
    SELECT pj.metadata -> 'output' INTO v_items
      FROM flow.node p JOIN public.river_job pj ON pj.id = p.job_id
     WHERE p.run_id = v.run_id AND p.node_id = v.args ->> 'over';
    IF jsonb_typeof(v_items) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'map node % cannot run: the output of node % is not an array but %',
                        to_json(v.node_id), to_json(v.args ->> 'over'), coalesce(jsonb_typeof(v_items), 'missing')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(v_items) = 0 THEN
        RETURN '[]'::jsonb;
    END IF;
    SELECT jsonb_agg(CASE WHEN v.args ? 'workflow'
                          THEN jsonb_build_object('id', (x.i - 1)::text,
                                                  'workflow', (v.args -> 'workflow') || jsonb_build_object('input', x.item))
                          ELSE jsonb_build_object('id', (x.i - 1)::text, 'kind', v.args -> 'kind',
                                                  'args', coalesce(v.args -> 'args', '{}'::jsonb),
                                                  'queue', v.queue, 'priority', v.priority, 'max_attempts', v.max_attempts,
                                                  'item', x.item)
                               || CASE WHEN v.metadata ? 'flow_timeout_ms'
                                       THEN jsonb_build_object('timeout_ms', v.metadata -> 'flow_timeout_ms')
                                       ELSE '{}'::jsonb END
                               || CASE WHEN v.args ? 'concurrency'
                                       THEN jsonb_build_object('concurrency', v.args -> 'concurrency')
                                       ELSE '{}'::jsonb END
                     END ORDER BY x.i),
           array_agg((x.i - 1)::text ORDER BY x.i)
      INTO v_nodes, v_ids
      FROM jsonb_array_elements(v_items) WITH ORDINALITY AS x(item, i);
    PERFORM flow.start_child(p_job, v.run_id, jsonb_build_object('name', v.node_id, 'nodes', v_nodes),
                             NULL, true, v_ids, '{}', '{}');
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.start_node(bigint) IS 'Internal: starts a released sub-workflow or map node''s child run; returns its output when it finishes at once (a map over []).';
