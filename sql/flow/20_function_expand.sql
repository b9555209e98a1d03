-- Run-time expansion: called in the completion transaction of a running node
-- (the Go API is flow.Expand). Inserts the child run from spec and parks the
-- node (back to 'pending', which River leaves alone) until the child run
-- finishes; the node's output is then the child run's output and its
-- children are released. The child run's input is the spec's "input", else
-- the node's own inputs (by reference). The run owner's limits and kind
-- grants apply to the spec as to flow.start's (22023, 42501). Returns the
-- child run's id. A node with a concurrency key gives its slot back: it
-- waits for its child run, it does not run.
CREATE OR REPLACE FUNCTION flow.expand(p_job_id bigint, spec jsonb) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_job   record;
    v_check record;
    v_run   flow.run%ROWTYPE;
    v_root  flow.run%ROWTYPE;
    v_child bigint;
    v_lim   flow.limits;
    v_kind  text;
BEGIN
    SELECT j.state::text AS state, j.metadata, n.run_id, n.node_id INTO v_job
      FROM public.river_job j LEFT JOIN flow.node n ON n.job_id = j.id
     WHERE j.id = p_job_id
       FOR UPDATE OF j;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'htdag: job % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_job.run_id IS NULL THEN
        RAISE EXCEPTION 'htdag: job % is not a flow node; only a node of a run can expand', p_job_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF v_job.state <> 'running' OR v_job.metadata ? 'cancel_attempted_at' THEN
        RAISE EXCEPTION 'htdag: node % of run % is %; a node expands only while it runs (in its completion transaction)',
                        to_json(v_job.node_id), v_job.run_id,
                        CASE WHEN v_job.metadata ? 'cancel_attempted_at' THEN 'being cancelled' ELSE v_job.state END
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM flow.run WHERE parent_job_id = p_job_id) THEN
        RAISE EXCEPTION 'htdag: node % of run % has already expanded', to_json(v_job.node_id), v_job.run_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    SELECT * INTO STRICT v_run FROM flow.run WHERE id = v_job.run_id;
    SELECT * INTO STRICT v_root FROM flow.run WHERE id = coalesce(v_run.root_run_id, v_run.id);
    v_lim := flow.limits_of(v_root.owner);
    IF pg_column_size(spec) > v_lim.max_spec_bytes THEN
        RAISE EXCEPTION 'invalid workflow spec: it is % bytes, more than the limit of % (flow.limits max_spec_bytes)',
                        pg_column_size(spec), v_lim.max_spec_bytes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_check FROM flow.spec_check_at(spec, v_lim.max_nodes, true, true);
    IF v_check.problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid workflow spec: %', v_check.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Workflow spec" in the htdag README';
    END IF;
    IF pg_column_size(spec -> 'input') > v_lim.max_input_bytes THEN
        RAISE EXCEPTION 'invalid workflow spec: its "input" is % bytes, more than the limit of % (flow.limits max_input_bytes)',
                        pg_column_size(spec -> 'input'), v_lim.max_input_bytes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_check.latest_at > now() + v_lim.max_delay THEN
        RAISE EXCEPTION 'invalid workflow spec: "at" % is further ahead than the limit of % (flow.limits max_delay)',
                        v_check.latest_at, v_lim.max_delay
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_kind := flow.kind_allowed(v_root.owner, v_check.kinds);
    IF v_kind IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: role % may not start jobs of kind %', to_json(v_root.owner::text), to_json(v_kind)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'an admin grants kinds in flow.kind_grant';
    END IF;
    IF v_run.depth + 1 + v_check.depth > v_root.max_depth THEN
        RAISE EXCEPTION 'invalid workflow spec: expanding node % of run % would nest runs % levels deep, more than the limit of % (max_depth of run %)',
                        to_json(v_job.node_id), v_job.run_id, v_run.depth + 1 + v_check.depth, v_root.max_depth, v_root.id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF flow.tree_size(v_root.id) + v_check.tree_nodes > v_root.max_tree_nodes THEN
        RAISE EXCEPTION 'invalid workflow spec: expanding node % of run % would make the tree of run % % nodes, more than its limit of % (max_tree_nodes)',
                        to_json(v_job.node_id), v_job.run_id, v_root.id, flow.tree_size(v_root.id) + v_check.tree_nodes, v_root.max_tree_nodes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_child := flow.start_child(p_job_id, v_job.run_id, spec, spec -> 'input', false,
                                v_check.ids, v_check.edge_parent, v_check.edge_child);
    UPDATE public.river_job SET state = 'pending' WHERE id = p_job_id;
    -- A node with a concurrency key no longer runs: its slot goes to the
    -- next waiting node of its key.
    IF EXISTS (SELECT 1 FROM flow.node WHERE job_id = p_job_id AND concurrency_key IS NOT NULL) THEN
        PERFORM flow.concurrency_settle(ARRAY[p_job_id], '{}', '{}', '{}');
    END IF;
    RETURN v_child;
END;
$$;
COMMENT ON FUNCTION flow.expand(bigint, jsonb) IS 'Expands a running node into a child run (in its completion transaction): the node finishes when the child run does, with its output. Returns the child run id.';
