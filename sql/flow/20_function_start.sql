-- flow.start(spec, max_nodes, owner): validates a workflow spec and inserts
-- the whole run in the caller's transaction; returns the run's id. The Go
-- client calls this same function, so both doors share one set of rules and
-- write identical rows.
--
-- Spec (README "Workflow spec"):
--   {"name": "diamond", "input": {...}, "key": "...", "output": "d", "timeout_ms": 60000,
--    "nodes": [{"id": "a", "kind": "echo", "args": {...}, "deps": ["..."],
--               "queue": "default", "priority": 1, "max_attempts": 25,
--               "at": "2026-01-02T15:04:05Z", "timeout_ms": 1000},
--              {"id": "s", "workflow": {...}}, {"id": "m", "map": "a", "kind": "k"}, ...]}
--
-- Every rejection raises SQLSTATE 22023 (invalid_parameter_value) with a
-- message starting "invalid workflow spec:" that names the problem; nothing is
-- written. With a "key", a start while a run of the same owner with that key
-- is unfinished returns that run and inserts nothing; concurrent starts with
-- one key make one run (the second waits on run_key_unfinished_idx for the
-- first).
--
-- The run is owned by owner, by default the caller (flow.caller(): SET
-- ROLE's role, else the login role); naming another owner takes membership
-- of it (or being an admin: the River door's worker starts runs for the role
-- that inserted the job). The owner's limits apply (flow.limits: max_nodes
-- and the spec's "max_depth"/"max_tree_nodes" may only lower them; the spec's
-- size, its input's size and how far ahead its "at"s are), and every node's
-- kind must be granted to it (flow.kind_grant), else SQLSTATE 42501 names the
-- kind. SECURITY DEFINER: flow_starter may call it without rights on the
-- tables; its SET clauses make sure no setting of the caller's steers it.
CREATE OR REPLACE FUNCTION flow.start(spec jsonb, max_nodes integer DEFAULT NULL, owner name DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
SET flow.in_trigger = 'off'
SET flow.cancelling = ''
SET flow.deleting_runs = 'off'
AS $$
#variable_conflict use_column
DECLARE
    -- flow.caller(), inline: helpers with SET clauses cost tens of
    -- microseconds a call, a fifth of a small start.
    v_caller    name := CASE WHEN current_setting('role') = 'none' THEN session_user ELSE current_setting('role')::name END;
    v_owner     name := coalesce(start.owner, v_caller);
    v_admin     boolean;
    v_lim       flow.limits;
    v_max_nodes integer;
    v_check     record;
    v_run_id    bigint;
    v_n         integer;
    v_max_depth integer;
    v_max_tree  integer;
    v_kind      text;
    v_roots     bigint[];
    v_r         bigint;
BEGIN
    IF v_owner <> v_caller THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_owner) THEN
            RAISE EXCEPTION 'htdag: role % does not exist', to_json(v_owner::text) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT flow.is_admin(v_caller)
           AND NOT pg_has_role((SELECT oid FROM pg_roles WHERE rolname = v_caller), (SELECT oid FROM pg_roles WHERE rolname = v_owner), 'MEMBER') THEN
            RAISE EXCEPTION 'htdag: role % may not start runs owned by role %', to_json(v_caller::text), to_json(v_owner::text)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    -- flow.is_admin(v_owner) and flow.limits_of(v_owner), in one query.
    SELECT coalesce(r.rolsuper OR r.oid = ns.nspowner OR pg_has_role(r.oid, 'flow_admin', 'MEMBER'), false),
           v_owner,
           coalesce(o.max_nodes, d.max_nodes), coalesce(o.max_depth, d.max_depth),
           coalesce(o.max_tree_nodes, d.max_tree_nodes), coalesce(o.max_spec_bytes, d.max_spec_bytes),
           coalesce(o.max_input_bytes, d.max_input_bytes), coalesce(o.max_delay, d.max_delay)
      INTO v_admin, v_lim.role, v_lim.max_nodes, v_lim.max_depth, v_lim.max_tree_nodes, v_lim.max_spec_bytes,
           v_lim.max_input_bytes, v_lim.max_delay
      FROM flow.limits d
      JOIN pg_namespace ns ON ns.nspname = 'flow'
      LEFT JOIN flow.limits o ON o.role = v_owner
      LEFT JOIN pg_roles r ON r.rolname = v_owner
     WHERE d.role = '*';
    IF pg_column_size(spec) > v_lim.max_spec_bytes THEN
        RAISE EXCEPTION 'invalid workflow spec: it is % bytes, more than the limit of % (flow.limits max_spec_bytes)',
                        pg_column_size(spec), v_lim.max_spec_bytes
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- max_nodes and the setting flow.max_nodes may lower the owner's limit.
    v_max_nodes := least(v_lim.max_nodes, max_nodes,
                         CASE WHEN current_setting('flow.max_nodes', true) ~ '^[0-9]{1,9}$'
                              THEN current_setting('flow.max_nodes', true)::integer END);
    SELECT * INTO v_check FROM flow.spec_check_at(spec, v_max_nodes, false, true);
    IF v_check.problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid workflow spec: %', v_check.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Workflow spec" in the htdag README';
    END IF;
    v_n := cardinality(v_check.ids);
    -- Checked by spec_check_at: small integers, when present.
    v_max_depth := least(v_lim.max_depth, (spec ->> 'max_depth')::integer);
    v_max_tree := least(v_lim.max_tree_nodes, (spec ->> 'max_tree_nodes')::bigint);
    IF v_check.depth > v_max_depth THEN
        RAISE EXCEPTION 'invalid workflow spec: its workflows nest % levels deep, more than the limit of % (max_depth)', v_check.depth, v_max_depth
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_check.tree_nodes > v_max_tree THEN
        RAISE EXCEPTION 'invalid workflow spec: it has % nodes at all levels, more than the limit of % (max_tree_nodes)', v_check.tree_nodes, v_max_tree
            USING ERRCODE = 'invalid_parameter_value';
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
    IF NOT v_admin THEN
        v_kind := flow.kind_allowed(v_owner, v_check.kinds);
    END IF;
    IF v_kind IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: role % may not start jobs of kind %', to_json(v_owner::text), to_json(v_kind)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'an admin grants kinds in flow.kind_grant';
    END IF;

    -- Idempotent start: an unfinished run of this owner with this key is the
    -- answer. Two concurrent starts both miss it here; the unique index then
    -- makes the second INSERT wait for the first and do nothing.
    IF spec ? 'key' THEN
        SELECT r.id INTO v_run_id FROM flow.run r
         WHERE r.owner = v_owner AND r.key = spec ->> 'key' AND r.state IN ('pending', 'running');
        IF v_run_id IS NOT NULL THEN
            RETURN v_run_id;
        END IF;
    END IF;

    INSERT INTO flow.run (name, input, node_count, unfinished, key, output_node, max_depth, max_tree_nodes, owner, timeout_ms,
                          deadline_queue)
    VALUES (coalesce(spec ->> 'name', ''), spec -> 'input', v_n, v_n, spec ->> 'key', spec ->> 'output', v_max_depth, v_max_tree, v_owner,
            (spec ->> 'timeout_ms')::integer, CASE WHEN spec ? 'timeout_ms' THEN coalesce(spec ->> 'queue', 'default') END)
    ON CONFLICT (owner, key) WHERE state IN ('pending', 'running') DO NOTHING
    RETURNING id INTO v_run_id;
    IF v_run_id IS NULL THEN
        SELECT r.id INTO STRICT v_run_id FROM flow.run r
         WHERE r.owner = v_owner AND r.key = spec ->> 'key' AND r.state IN ('pending', 'running');
        RETURN v_run_id;
    END IF;

    -- A deadline: its job is scheduled now (README "Run deadlines").
    IF spec ? 'timeout_ms' THEN
        PERFORM flow.arm_deadline(v_run_id);
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

COMMENT ON FUNCTION flow.start(jsonb, integer, name) IS 'Starts a run from a workflow spec (JSON) in the caller''s transaction and returns its id; raises SQLSTATE 22023 naming the problem for an invalid spec, 42501 for a kind the owner may not start. The owner''s limits (flow.limits) apply; max_nodes may only lower them.';
