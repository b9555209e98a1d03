-- flow.start(spec, max_nodes): validates a workflow spec and inserts the whole
-- run in the caller's transaction; returns the run's id. The Go client calls
-- this same function, so both doors share one set of rules and write
-- identical rows.
--
-- Spec (README "Workflow spec"):
--   {"name": "diamond", "input": {...}, "key": "...", "output": "d",
--    "nodes": [{"id": "a", "kind": "echo", "args": {...}, "deps": ["..."],
--               "queue": "default", "priority": 1, "max_attempts": 25,
--               "at": "2026-01-02T15:04:05Z", "timeout_ms": 1000},
--              {"id": "s", "workflow": {...}}, {"id": "m", "map": "a", "kind": "k"}, ...]}
--
-- Every rejection raises SQLSTATE 22023 (invalid_parameter_value) with a
-- message starting "invalid workflow spec:" that names the problem; nothing is
-- written. With a "key", a start while a run with that key is unfinished
-- returns that run and inserts nothing; concurrent starts with one key make
-- one run (the second waits on run_key_unfinished_idx for the first).
-- SECURITY DEFINER: flow_starter may call it without rights on the tables.
CREATE OR REPLACE FUNCTION flow.start(spec jsonb, max_nodes integer DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_check     record;
    v_run_id    bigint;
    v_n         integer;
    v_max_depth integer := coalesce((spec ->> 'max_depth')::integer, 32);
    v_max_tree  integer := coalesce((spec ->> 'max_tree_nodes')::integer, 1000000);
    v_roots     bigint[];
    v_r         bigint;
BEGIN
    SELECT * INTO v_check FROM flow.spec_check_at(spec, max_nodes, false);
    IF v_check.problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid workflow spec: %', v_check.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Workflow spec" in the htdag README';
    END IF;
    v_n := cardinality(v_check.ids);
    IF v_check.depth > v_max_depth THEN
        RAISE EXCEPTION 'invalid workflow spec: its workflows nest % levels deep, more than "max_depth" (%)', v_check.depth, v_max_depth
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_check.tree_nodes > v_max_tree THEN
        RAISE EXCEPTION 'invalid workflow spec: it has % nodes at all levels, more than "max_tree_nodes" (%)', v_check.tree_nodes, v_max_tree
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Idempotent start: an unfinished run with this key is the answer. Two
    -- concurrent starts both miss it here; the unique index then makes the
    -- second INSERT wait for the first and do nothing.
    IF spec ? 'key' THEN
        SELECT id INTO v_run_id FROM flow.run WHERE key = spec ->> 'key' AND state IN ('pending', 'running');
        IF v_run_id IS NOT NULL THEN
            RETURN v_run_id;
        END IF;
    END IF;

    INSERT INTO flow.run (name, input, node_count, unfinished, key, output_node, max_depth, max_tree_nodes)
    VALUES (coalesce(spec ->> 'name', ''), spec -> 'input', v_n, v_n, spec ->> 'key', spec ->> 'output', v_max_depth, v_max_tree)
    ON CONFLICT (key) WHERE state IN ('pending', 'running') DO NOTHING
    RETURNING id INTO v_run_id;
    IF v_run_id IS NULL THEN
        SELECT id INTO STRICT v_run_id FROM flow.run WHERE key = spec ->> 'key' AND state IN ('pending', 'running');
        RETURN v_run_id;
    END IF;

    v_roots := flow.insert_nodes(v_run_id, spec, v_check.ids, v_check.edge_parent, v_check.edge_child);
    IF v_roots IS NOT NULL THEN
        FOREACH v_r IN ARRAY v_roots LOOP
            PERFORM flow.start_node(v_r);
        END LOOP;
    END IF;
    RETURN v_run_id;
END;
$$;
COMMENT ON FUNCTION flow.start(jsonb, integer) IS 'Starts a run from a workflow spec (JSON) in the caller''s transaction and returns its id; raises SQLSTATE 22023 naming the problem for an invalid spec. max_nodes overrides the setting flow.max_nodes (default 100000).';
