-- Starts a child run of node p_job (of run p_run) from a checked spec, under
-- the tree's limits, and starts its root sub-workflow nodes (recursively).
-- p_input NULL makes the child run's input its node's inputs, read through
-- flow.run_input rather than copied (a deep tree would otherwise copy its
-- top run's input at every level). The child run has its top run's owner.
-- Returns the child run's id; raises SQLSTATE 22023 naming the limit when one
-- is exceeded. Child runs are 'running' from the start: their node is. The
-- tree's size is counted in flow.tree_count, in the shard of this backend.
CREATE OR REPLACE FUNCTION flow.start_child(p_job bigint, p_run bigint, p_spec jsonb, p_input jsonb, p_is_map boolean,
                                 p_ids text[], p_ep integer[], p_ec integer[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_parent flow.run%ROWTYPE;
    v_root   flow.run%ROWTYPE;
    v_n      integer := cardinality(p_ids);
    v_child  bigint;
    v_roots  bigint[];
    v_r      bigint;
    v_size   bigint;
BEGIN
    SELECT * INTO STRICT v_parent FROM flow.run WHERE id = p_run;
    -- The tree's limits and node count live on its top run.
    SELECT * INTO STRICT v_root FROM flow.run WHERE id = coalesce(v_parent.root_run_id, v_parent.id);
    IF v_parent.depth + 1 > v_root.max_depth THEN
        RAISE EXCEPTION 'a child run of node % of run % would be at depth %, deeper than the limit of % (max_depth of run %)',
                        to_json((SELECT node_id FROM flow.node WHERE job_id = p_job)), p_run,
                        v_parent.depth + 1, v_root.max_depth, v_root.id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Checked against committed counts: expansions committing at the same
    -- moment can each pass and overshoot the limit by their own sizes.
    v_size := flow.tree_size(v_root.id);
    IF v_size + v_n > v_root.max_tree_nodes THEN
        RAISE EXCEPTION '% more nodes under node % of run % would make the tree of run % % nodes, more than its limit of % (max_tree_nodes)',
                        v_n, to_json((SELECT node_id FROM flow.node WHERE job_id = p_job)), p_run,
                        v_root.id, v_size + v_n, v_root.max_tree_nodes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO flow.tree_count AS t (root_run_id, shard, nodes)
    VALUES (v_root.id, pg_backend_pid() % 16, v_n)
    ON CONFLICT (root_run_id, shard) DO UPDATE SET nodes = t.nodes + excluded.nodes;

    INSERT INTO flow.run (name, state, input, input_from_parent, node_count, unfinished, started_at,
                          parent_run_id, parent_job_id, root_run_id, depth, output_node, is_map, owner, timeout_ms,
                          deadline_queue)
    VALUES (coalesce(p_spec ->> 'name', (SELECT node_id FROM flow.node WHERE job_id = p_job)), 'running',
            p_input, p_input IS NULL, v_n, v_n, now(),
            p_run, p_job, v_root.id, v_parent.depth + 1, p_spec ->> 'output', p_is_map, v_root.owner,
            (p_spec ->> 'timeout_ms')::integer, CASE WHEN p_spec ? 'timeout_ms' THEN coalesce(p_spec ->> 'queue', 'default') END)
    RETURNING id INTO v_child;
    -- The child run's own deadline, counted from now (README "Run deadlines").
    IF p_spec ? 'timeout_ms' THEN
        PERFORM flow.arm_deadline(v_child);
    END IF;
    -- A top run whose first nodes are sub-workflows runs from now on.
    IF v_parent.state = 'pending' THEN
        UPDATE flow.run SET state = 'running', started_at = now() WHERE id = p_run AND state = 'pending';
    END IF;

    v_roots := flow.insert_nodes(v_child, p_spec, p_ids, p_ep, p_ec);
    IF v_roots IS NOT NULL THEN
        FOREACH v_r IN ARRAY v_roots LOOP
            PERFORM flow.start_node(v_r); -- a sub-workflow always starts a run (or raises)
        END LOOP;
    END IF;
    RETURN v_child;
END;
$$;
COMMENT ON FUNCTION flow.start_child(bigint, bigint, jsonb, jsonb, boolean, text[], integer[], integer[]) IS 'Internal: inserts a child run for a node, within the limits of its tree.';
