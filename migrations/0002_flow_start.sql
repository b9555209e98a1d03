-- flow.start(spec jsonb): validate a workflow spec and insert the whole run in
-- the caller's transaction. The Go client calls this same function, so both
-- doors share one set of rules and produce identical rows.
--
-- Spec (see README):
--   {"name": "diamond", "input": {...},
--    "nodes": [{"id": "a", "kind": "echo", "args": {...}, "deps": ["..."],
--               "queue": "default", "priority": 1, "max_attempts": 25,
--               "at": "2026-01-02T15:04:05Z"}, ...]}
--
-- Every rejection raises SQLSTATE 22023 (invalid_parameter_value) with a
-- message starting "invalid workflow spec:" that names the problem; nothing is
-- written.

-- An RFC 3339 timestamp with its zone ("2026-01-02T15:04:05Z",
-- "2026-01-02 15:04:05.5+02:00") parsed from text, or NULL when the text is
-- not one. Other forms PostgreSQL accepts ("01/02/2030", "tomorrow", a time
-- without a zone) depend on the session's DateStyle and TimeZone, so the same
-- spec would mean different times through different connections. STRICT, so a
-- missing value never enters the exception block (a subtransaction).
CREATE FUNCTION flow.parse_time(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v timestamptz;
BEGIN
    IF p_text !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$' THEN
        RETURN NULL;
    END IF;
    v := p_text::timestamptz;
    RETURN CASE WHEN isfinite(v) THEN v END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- Checks a spec. problem is the first problem found (NULL when the spec is
-- valid); for a valid spec, ids are the node ids in spec order and
-- edge_parent/edge_child the dependencies as 1-based node ordinals, sorted by
-- (parent, child) and without duplicates. flow.start inserts from these, so
-- the spec is parsed once.
CREATE FUNCTION flow.spec_check(spec jsonb, max_nodes integer DEFAULT NULL,
                                OUT problem text, OUT ids text[],
                                OUT edge_parent integer[], OUT edge_child integer[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- Large specs make the planner's row estimates for jsonb functions huge:
-- JIT would then spend longer compiling than the queries take, and the
-- default work_mem spills the hash joins over the nodes to disk.
SET jit = off
SET work_mem = '64MB'
-- Plan each statement once per session rather than on every start: for the
-- small specs most runs have, planning was most of the cost.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_nodes   jsonb;
    v_n       integer;
    v_max     integer;
    v_problem text;
    v_ep      integer[];
    v_ec      integer[];
    v_indeg   integer[];
    v_off     integer[];
    v_queue   integer[];
    v_head    integer := 1;
    v_tail    integer := 0;
    v_v       integer;
    v_c       integer;
    v_path    integer[];
    v_pos     integer;
BEGIN
    IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
        problem := 'the spec must be a JSON object';
        RETURN;
    END IF;

    SELECT format('unknown key %s (allowed: name, input, nodes, key, queue, priority, max_attempts, at)', to_json(k))
      INTO v_problem
      FROM jsonb_object_keys(spec) AS k
     WHERE k <> ALL (ARRAY['name', 'input', 'nodes', 'key', 'queue', 'priority', 'max_attempts', 'at'])
     ORDER BY k LIMIT 1;
    IF v_problem IS NOT NULL THEN
        problem := v_problem;
        RETURN;
    END IF;

    problem := CASE
        WHEN spec ? 'name' AND (jsonb_typeof(spec -> 'name') <> 'string' OR length(spec ->> 'name') > 200) THEN
            '"name" must be a string of at most 200 characters'
        WHEN spec ? 'key' AND (jsonb_typeof(spec -> 'key') <> 'string' OR length(spec ->> 'key') NOT BETWEEN 1 AND 200) THEN
            '"key" must be a string of 1 to 200 characters'
        -- Run-level defaults for the nodes: the same rules as on a node.
        WHEN spec ? 'queue' AND (jsonb_typeof(spec -> 'queue') <> 'string' OR length(spec ->> 'queue') NOT BETWEEN 1 AND 127) THEN
            '"queue" must be a string of 1 to 127 characters'
        WHEN spec ? 'priority' AND (spec ->> 'priority') !~ '^[1-4]$' THEN
            '"priority" must be 1, 2, 3 or 4'
        WHEN spec ? 'max_attempts' AND ((spec ->> 'max_attempts') !~ '^[0-9]{1,5}$'
                                        OR (spec ->> 'max_attempts')::integer NOT BETWEEN 1 AND 32767) THEN
            '"max_attempts" must be an integer from 1 to 32767'
        WHEN spec ? 'at' AND (jsonb_typeof(spec -> 'at') <> 'string' OR flow.parse_time(spec ->> 'at') IS NULL) THEN
            '"at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"'
    END;
    IF problem IS NOT NULL THEN
        RETURN;
    END IF;

    v_nodes := spec -> 'nodes';
    IF v_nodes IS NULL OR jsonb_typeof(v_nodes) <> 'array' THEN
        problem := '"nodes" must be an array of nodes';
        RETURN;
    END IF;
    v_n := jsonb_array_length(v_nodes);
    IF v_n = 0 THEN
        problem := 'the workflow has no nodes';
        RETURN;
    END IF;
    v_max := coalesce(max_nodes, nullif(current_setting('flow.max_nodes', true), '')::integer, 100000);
    IF v_n > v_max THEN
        problem := format('the workflow has %s nodes, more than the limit of %s (setting flow.max_nodes)', v_n, v_max);
        RETURN;
    END IF;

    -- Each node on its own, first problem in spec order.
    SELECT s.problem INTO problem FROM (
        SELECT x.i, CASE
            WHEN jsonb_typeof(x.e) <> 'object' THEN
                format('node #%s must be a JSON object', x.i)
            WHEN jsonb_typeof(x.e -> 'id') IS DISTINCT FROM 'string' THEN
                format('node #%s has no "id" (a string)', x.i)
            WHEN (x.e ->> 'id') ~ '[^A-Za-z0-9_.:-]' OR length(x.e ->> 'id') NOT BETWEEN 1 AND 128 THEN
                format('node #%s has invalid id %s: ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -', x.i, to_json(x.e ->> 'id'))
            WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(x.e) k
                          WHERE k <> ALL (ARRAY['id', 'kind', 'args', 'deps', 'queue', 'priority', 'max_attempts', 'at', 'timeout_ms'])) THEN
                format('node %s has unknown key %s (allowed: id, kind, args, deps, queue, priority, max_attempts, at, timeout_ms)',
                       to_json(x.e ->> 'id'),
                       (SELECT to_json(k) FROM jsonb_object_keys(x.e) k
                         WHERE k <> ALL (ARRAY['id', 'kind', 'args', 'deps', 'queue', 'priority', 'max_attempts', 'at', 'timeout_ms'])
                         ORDER BY k LIMIT 1))
            WHEN jsonb_typeof(x.e -> 'kind') IS DISTINCT FROM 'string' OR x.e ->> 'kind' = '' THEN
                format('node %s has no "kind" (a non-empty string)', to_json(x.e ->> 'id'))
            WHEN length(x.e ->> 'kind') > 127 THEN
                format('node %s has a "kind" longer than 127 characters', to_json(x.e ->> 'id'))
            WHEN x.e ? 'args' AND jsonb_typeof(x.e -> 'args') <> 'object' THEN
                format('node %s: "args" must be a JSON object, not %s', to_json(x.e ->> 'id'), jsonb_typeof(x.e -> 'args'))
            WHEN x.e ? 'deps' AND jsonb_typeof(x.e -> 'deps') <> 'array' THEN
                format('node %s: "deps" must be an array of node ids', to_json(x.e ->> 'id'))
            WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(x.e -> 'deps') d WHERE jsonb_typeof(d) <> 'string') THEN
                format('node %s: "deps" must be an array of node ids (strings)', to_json(x.e ->> 'id'))
            WHEN (x.e -> 'deps') ? (x.e ->> 'id') THEN
                format('node %s depends on itself', to_json(x.e ->> 'id'))
            WHEN x.e ? 'queue' AND (jsonb_typeof(x.e -> 'queue') <> 'string' OR length(x.e ->> 'queue') NOT BETWEEN 1 AND 127) THEN
                format('node %s: "queue" must be a string of 1 to 127 characters', to_json(x.e ->> 'id'))
            WHEN x.e ? 'priority' AND (x.e ->> 'priority') !~ '^[1-4]$' THEN
                format('node %s: "priority" must be 1, 2, 3 or 4', to_json(x.e ->> 'id'))
            WHEN x.e ? 'max_attempts' AND ((x.e ->> 'max_attempts') !~ '^[0-9]{1,5}$'
                                           OR (x.e ->> 'max_attempts')::integer NOT BETWEEN 1 AND 32767) THEN
                format('node %s: "max_attempts" must be an integer from 1 to 32767', to_json(x.e ->> 'id'))
            WHEN x.e ? 'at' AND (jsonb_typeof(x.e -> 'at') <> 'string' OR flow.parse_time(x.e ->> 'at') IS NULL) THEN
                format('node %s: "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"', to_json(x.e ->> 'id'))
            WHEN x.e ? 'timeout_ms' AND ((x.e ->> 'timeout_ms') !~ '^[0-9]{1,10}$'
                                         OR (x.e ->> 'timeout_ms')::bigint NOT BETWEEN 1 AND 2147483647) THEN
                format('node %s: "timeout_ms" must be an integer from 1 to 2147483647', to_json(x.e ->> 'id'))
            END AS problem
          FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
    ) s
     WHERE s.problem IS NOT NULL
     ORDER BY s.i LIMIT 1;
    IF problem IS NOT NULL THEN
        RETURN;
    END IF;

    -- The ids in spec order; duplicates.
    SELECT array_agg(e ->> 'id' ORDER BY i) INTO ids
      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i);
    SELECT format('node id %s is used more than once', to_json(t.id))
      INTO problem
      FROM unnest(ids) WITH ORDINALITY AS t(id, i)
     GROUP BY t.id
    HAVING count(*) > 1
     ORDER BY min(t.i) LIMIT 1;
    IF problem IS NOT NULL THEN
        RETURN;
    END IF;

    -- The edges as ordinals; a dependency on an unknown id gets a NULL
    -- parent, which sorts last.
    SELECT array_agg(m.p ORDER BY m.p, m.c), array_agg(m.c ORDER BY m.p, m.c)
      INTO edge_parent, edge_child
      FROM (SELECT DISTINCT t.i::integer AS p, d.c
              FROM (SELECT x.i::integer AS c, dep
                      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                     CROSS JOIN LATERAL jsonb_array_elements_text(x.e -> 'deps') AS dep) d
              LEFT JOIN unnest(ids) WITH ORDINALITY AS t(id, i) ON t.id = d.dep) m;
    IF edge_parent IS NULL THEN
        RETURN; -- no edges, no cycle
    END IF;
    IF edge_parent[cardinality(edge_parent)] IS NULL THEN
        SELECT format('node %s depends on unknown node %s', to_json(d.id), to_json(d.dep))
          INTO problem
          FROM (SELECT x.i, x.e ->> 'id' AS id, dep
                  FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                 CROSS JOIN LATERAL jsonb_array_elements_text(x.e -> 'deps') AS dep) d
          LEFT JOIN unnest(ids) AS t(id) ON t.id = d.dep
         WHERE t.id IS NULL
         ORDER BY d.i LIMIT 1;
        ids := NULL; edge_parent := NULL; edge_child := NULL;
        RETURN;
    END IF;

    -- Cycle check: Kahn's algorithm. Edges are sorted by parent, so node v's
    -- outgoing edges sit at positions v_off[v]+1 .. v_off[v+1]. (Local
    -- copies: element access on them is O(1).)
    v_ec := edge_child;
    v_ep := edge_parent;
    v_indeg := array_fill(0, ARRAY[v_n]);
    v_off := array_fill(0, ARRAY[v_n + 1]);
    FOR k IN 1 .. cardinality(v_ec) LOOP
        v_c := v_ec[k];
        v_indeg[v_c] := v_indeg[v_c] + 1;
        v_v := v_ep[k] + 1;
        v_off[v_v] := v_off[v_v] + 1;
    END LOOP;
    FOR v IN 2 .. v_n + 1 LOOP
        v_off[v] := v_off[v] + v_off[v - 1];
    END LOOP;

    v_queue := array_fill(0, ARRAY[v_n]);
    FOR v IN 1 .. v_n LOOP
        IF v_indeg[v] = 0 THEN
            v_tail := v_tail + 1;
            v_queue[v_tail] := v;
        END IF;
    END LOOP;
    WHILE v_head <= v_tail LOOP
        v_v := v_queue[v_head];
        v_head := v_head + 1;
        FOR k IN v_off[v_v] + 1 .. v_off[v_v + 1] LOOP
            v_c := v_ec[k];
            v_indeg[v_c] := v_indeg[v_c] - 1;
            IF v_indeg[v_c] = 0 THEN
                v_tail := v_tail + 1;
                v_queue[v_tail] := v_c;
            END IF;
        END LOOP;
    END LOOP;
    IF v_tail = v_n THEN
        RETURN;
    END IF;

    -- Name one cycle: every node left has an unprocessed parent; walk parents
    -- from one of them until a node repeats.
    SELECT min(g) INTO v_v FROM generate_series(1, v_n) AS g WHERE v_indeg[g] > 0;
    v_path := ARRAY[v_v];
    LOOP
        SELECT e.p INTO v_c
          FROM unnest(v_ep, v_ec) AS e(p, c)
         WHERE e.c = v_v AND v_indeg[e.p] > 0
         LIMIT 1;
        v_pos := array_position(v_path, v_c);
        IF v_pos IS NOT NULL THEN
            v_path := v_path[v_pos:] || v_c; -- walked child -> parent
            EXIT;
        END IF;
        v_path := v_path || v_c;
        v_v := v_c;
    END LOOP;
    problem := format('dependency cycle: %s (each node depends on the one before it)',
                      (SELECT string_agg(n.id, ' -> ' ORDER BY p.k DESC)
                         FROM unnest(v_path) WITH ORDINALITY AS p(v, k)
                         JOIN unnest(ids) WITH ORDINALITY AS n(id, i) ON n.i = p.v));
    ids := NULL; edge_parent := NULL; edge_child := NULL;
END;
$$;
COMMENT ON FUNCTION flow.spec_check(jsonb, integer) IS 'Checks a workflow spec: the first problem, or (when valid) its ids and edges as ordinals. Used by flow.start.';

-- Returns the text of the first problem with the spec, or NULL when it is valid.
CREATE FUNCTION flow.spec_problem(spec jsonb, max_nodes integer DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (flow.spec_check(spec, max_nodes)).problem;
$$;
COMMENT ON FUNCTION flow.spec_problem(jsonb, integer) IS 'The first problem with a workflow spec, or NULL when flow.start would accept it.';

CREATE FUNCTION flow.start(spec jsonb, max_nodes integer DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off            -- see flow.spec_check
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_check   record;
    v_run_id  bigint;
    v_nodes   jsonb := spec -> 'nodes';
    v_n       integer;
    v_ids     text[];
    v_ep      integer[];
    v_ec      integer[];
    v_jobs    bigint[];
    v_order   text[];
    v_queues  text[];
BEGIN
    SELECT * INTO v_check FROM flow.spec_check(spec, max_nodes);
    IF v_check.problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid workflow spec: %', v_check.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Workflow spec" in the htdag README';
    END IF;
    v_ids := v_check.ids;
    v_ep := v_check.edge_parent;
    v_ec := v_check.edge_child;
    v_n := cardinality(v_ids);

    -- Idempotent start: a key that belongs to an unfinished run returns that
    -- run and inserts nothing. The partial unique index run_key_unfinished_idx
    -- makes a concurrent start with the same key wait for this one, then
    -- take the DO NOTHING path.
    IF spec ? 'key' THEN
        SELECT id INTO v_run_id FROM flow.run WHERE key = spec ->> 'key' AND state IN ('pending', 'running');
        IF v_run_id IS NOT NULL THEN
            RETURN v_run_id;
        END IF;
    END IF;

    INSERT INTO flow.run (name, input, node_count, unfinished, key)
    VALUES (coalesce(spec ->> 'name', ''), spec -> 'input', v_n, v_n, spec ->> 'key')
    ON CONFLICT (key) WHERE state IN ('pending', 'running') DO NOTHING
    RETURNING id INTO v_run_id;
    IF v_run_id IS NULL THEN
        SELECT id INTO STRICT v_run_id FROM flow.run WHERE key = spec ->> 'key' AND state IN ('pending', 'running');
        RETURN v_run_id;
    END IF;

    -- Roots are available (or scheduled when "at" is in the future); every
    -- other node waits as pending, which River never fetches. Rows go in in
    -- spec order, so ascending job ids follow the spec (checked below).
    WITH ins AS (
        INSERT INTO public.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at)
        SELECT coalesce(x.e -> 'args', '{}'::jsonb),
               x.e ->> 'kind',
               coalesce((x.e ->> 'max_attempts')::smallint, (spec ->> 'max_attempts')::smallint, 25),
               CASE WHEN x.e ? 'timeout_ms'
                    THEN jsonb_build_object('flow_run', v_run_id, 'flow_node', x.e ->> 'id',
                                            'flow_timeout_ms', (x.e ->> 'timeout_ms')::bigint)
                    ELSE jsonb_build_object('flow_run', v_run_id, 'flow_node', x.e ->> 'id') END,
               coalesce((x.e ->> 'priority')::smallint, (spec ->> 'priority')::smallint, 1),
               coalesce(x.e ->> 'queue', spec ->> 'queue', 'default'),
               CASE WHEN jsonb_array_length(coalesce(x.e -> 'deps', '[]'::jsonb)) > 0 THEN 'pending'::public.river_job_state
                    WHEN x.at > now() THEN 'scheduled'::public.river_job_state
                    ELSE 'available'::public.river_job_state END,
               coalesce(x.at, now())
          FROM (SELECT e, i, coalesce(flow.parse_time(e ->> 'at'), flow.parse_time(spec ->> 'at')) AS at
                  FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS t(e, i)) x
         ORDER BY x.i
        RETURNING id, metadata ->> 'flow_node' AS node_id, state, queue
    )
    SELECT array_agg(id ORDER BY id), array_agg(node_id ORDER BY id),
           array_agg(DISTINCT queue) FILTER (WHERE state = 'available')
      INTO v_jobs, v_order, v_queues
      FROM ins;
    IF v_order IS DISTINCT FROM v_ids THEN
        RAISE EXCEPTION 'htdag: internal error: job ids were not assigned in spec order';
    END IF;

    -- Edges map ordinals to job ids through joins, not array subscripts
    -- (a subscript on a large array parameter can copy the whole array).
    INSERT INTO flow.node (job_id, run_id, node_id, parents, children, waiting)
    WITH n AS (
        SELECT * FROM unnest(v_jobs, v_ids) WITH ORDINALITY AS n(job_id, node_id, i)
    ), e AS (
        SELECT pj.job_id AS parent, cj.job_id AS child
          FROM unnest(v_ep, v_ec) AS e(p, c)
          JOIN n pj ON pj.i = e.p
          JOIN n cj ON cj.i = e.c
    )
    SELECT n.job_id, v_run_id, n.node_id,
           coalesce(par.ids, '{}'), coalesce(chi.ids, '{}'), coalesce(cardinality(par.ids), 0)
      FROM n
      LEFT JOIN (SELECT child, array_agg(parent ORDER BY parent) AS ids FROM e GROUP BY child) par ON par.child = n.job_id
      LEFT JOIN (SELECT parent, array_agg(child ORDER BY child) AS ids FROM e GROUP BY parent) chi ON chi.parent = n.job_id;

    -- Wake River's producers for each queue that got runnable roots.
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
       FROM unnest(v_queues) AS q;

    RETURN v_run_id;
END;
$$;
COMMENT ON FUNCTION flow.start(jsonb, integer) IS 'Starts a run from a workflow spec (JSON) in the caller''s transaction and returns its id; raises SQLSTATE 22023 naming the problem for an invalid spec. max_nodes overrides the setting flow.max_nodes (default 100000).';
