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

-- A timestamp parsed from text, or NULL when the text is not one. STRICT, so a
-- missing value never enters the exception block (which costs a subtransaction).
-- 'infinity' and '-infinity' parse but are not times a node can wait for (a
-- node at infinity would never start and its run never finish): NULL too.
CREATE FUNCTION flow.parse_time(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v timestamptz;
BEGIN
    v := p_text::timestamptz;
    RETURN CASE WHEN isfinite(v) THEN v END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- Returns the text of the first problem with the spec, or NULL when it is valid.
CREATE FUNCTION flow.spec_problem(spec jsonb, max_nodes integer DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- Large specs make the planner's row estimates for jsonb functions huge:
-- JIT would then spend longer compiling than the queries take, and the
-- default work_mem spills the hash joins over the nodes to disk.
SET jit = off
SET work_mem = '64MB'
AS $$
DECLARE
    v_nodes   jsonb;
    v_n       integer;
    v_max     integer;
    v_problem text;
    v_ids     text[];
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
        RETURN 'the spec must be a JSON object';
    END IF;

    SELECT format('unknown key %s (allowed: name, input, nodes)', to_json(k))
      INTO v_problem
      FROM jsonb_object_keys(spec) AS k
     WHERE k <> ALL (ARRAY['name', 'input', 'nodes'])
     ORDER BY k LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RETURN v_problem;
    END IF;

    IF spec ? 'name' AND (jsonb_typeof(spec -> 'name') <> 'string' OR length(spec ->> 'name') > 200) THEN
        RETURN '"name" must be a string of at most 200 characters';
    END IF;

    v_nodes := spec -> 'nodes';
    IF v_nodes IS NULL OR jsonb_typeof(v_nodes) <> 'array' THEN
        RETURN '"nodes" must be an array of nodes';
    END IF;
    v_n := jsonb_array_length(v_nodes);
    IF v_n = 0 THEN
        RETURN 'the workflow has no nodes';
    END IF;
    v_max := coalesce(max_nodes, nullif(current_setting('flow.max_nodes', true), '')::integer, 100000);
    IF v_n > v_max THEN
        RETURN format('the workflow has %s nodes, more than the limit of %s (setting flow.max_nodes)', v_n, v_max);
    END IF;

    -- Each node on its own, first problem in spec order.
    SELECT s.problem INTO v_problem FROM (
        SELECT x.i, CASE
            WHEN jsonb_typeof(x.e) <> 'object' THEN
                format('node #%s must be a JSON object', x.i)
            WHEN jsonb_typeof(x.e -> 'id') IS DISTINCT FROM 'string' THEN
                format('node #%s has no "id" (a string)', x.i)
            WHEN (x.e ->> 'id') ~ '[^A-Za-z0-9_.:-]' OR length(x.e ->> 'id') NOT BETWEEN 1 AND 128 THEN
                format('node #%s has invalid id %s: ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -', x.i, to_json(x.e ->> 'id'))
            WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(x.e) k
                          WHERE k <> ALL (ARRAY['id', 'kind', 'args', 'deps', 'queue', 'priority', 'max_attempts', 'at'])) THEN
                format('node %s has unknown key %s (allowed: id, kind, args, deps, queue, priority, max_attempts, at)',
                       to_json(x.e ->> 'id'),
                       (SELECT to_json(k) FROM jsonb_object_keys(x.e) k
                         WHERE k <> ALL (ARRAY['id', 'kind', 'args', 'deps', 'queue', 'priority', 'max_attempts', 'at'])
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
                format('node %s: "at" must be a timestamp string such as "2026-01-02T15:04:05Z"', to_json(x.e ->> 'id'))
            END AS problem
          FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
    ) s
     WHERE s.problem IS NOT NULL
     ORDER BY s.i LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RETURN v_problem;
    END IF;

    SELECT format('node id %s is used more than once', to_json(e ->> 'id'))
      INTO v_problem
      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
     GROUP BY e ->> 'id'
    HAVING count(*) > 1
     ORDER BY min(i) LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RETURN v_problem;
    END IF;

    -- Dependencies on unknown nodes, and the edges as node ordinals.
    SELECT array_agg(e ->> 'id' ORDER BY i) INTO v_ids
      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i);

    WITH ids AS (
        SELECT e ->> 'id' AS id, i FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
    ), deps AS (
        SELECT DISTINCT c.i AS child_i, c.id AS child, d.dep
          FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
          JOIN ids c ON c.i = x.i
         CROSS JOIN LATERAL jsonb_array_elements_text(x.e -> 'deps') AS d(dep)
    )
    SELECT format('node %s depends on unknown node %s', to_json(deps.child), to_json(deps.dep))
      INTO v_problem
      FROM deps
     WHERE NOT EXISTS (SELECT 1 FROM ids WHERE ids.id = deps.dep)
     ORDER BY deps.child_i LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RETURN v_problem;
    END IF;

    WITH ids AS (
        SELECT e ->> 'id' AS id, i FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
    ), edges AS (
        SELECT DISTINCT p.i::integer AS p, x.i::integer AS c
          FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
         CROSS JOIN LATERAL jsonb_array_elements_text(x.e -> 'deps') AS d(dep)
          JOIN ids p ON p.id = d.dep
    )
    SELECT array_agg(p ORDER BY p, c), array_agg(c ORDER BY p, c) INTO v_ep, v_ec FROM edges;
    IF v_ep IS NULL THEN
        RETURN NULL; -- no edges, no cycle
    END IF;

    -- Cycle check: Kahn's algorithm over the edges sorted by parent
    -- (v_off[v]+1 .. v_off[v+1] are the positions of v's outgoing edges).
    SELECT array_agg(coalesce(cnt, 0)::integer ORDER BY g) INTO v_indeg
      FROM generate_series(1, v_n) AS g
      LEFT JOIN (SELECT c, count(*) AS cnt FROM unnest(v_ec) AS c GROUP BY c) t ON t.c = g;
    SELECT array_agg(coalesce(s, 0)::integer ORDER BY g) INTO v_off
      FROM (SELECT g, sum(cnt) OVER (ORDER BY g) AS s
              FROM generate_series(0, v_n) AS g
              LEFT JOIN (SELECT p, count(*) AS cnt FROM unnest(v_ep) AS p GROUP BY p) t ON t.p = g) s;
    -- v_off is 1-based over g = 0..n, so v's edges are v_off[v]+1 .. v_off[v+1].

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
        RETURN NULL;
    END IF;

    -- Name one cycle: every node left has an unprocessed parent; walk parents
    -- from one of them until a node repeats.
    SELECT min(g) INTO v_v FROM generate_series(1, v_n) AS g WHERE v_indeg[g] > 0;
    v_path := ARRAY[v_v];
    LOOP
        SELECT v_ep[k] INTO v_c
          FROM generate_subscripts(v_ec, 1) AS k
         WHERE v_ec[k] = v_v AND v_indeg[v_ep[k]] > 0
         LIMIT 1;
        v_pos := array_position(v_path, v_c);
        IF v_pos IS NOT NULL THEN
            v_path := v_path[v_pos:] || v_c; -- walked child -> parent
            EXIT;
        END IF;
        v_path := v_path || v_c;
        v_v := v_c;
    END LOOP;
    RETURN format('dependency cycle: %s (each node depends on the one before it)',
                  (SELECT string_agg(v_ids[v_path[k]], ' -> ' ORDER BY k DESC)
                     FROM generate_subscripts(v_path, 1) AS k));
END;
$$;
COMMENT ON FUNCTION flow.spec_problem(jsonb, integer) IS 'The first problem with a workflow spec, or NULL when flow.start would accept it.';

CREATE FUNCTION flow.start(spec jsonb, max_nodes integer DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off            -- see flow.spec_problem
SET work_mem = '64MB'
AS $$
DECLARE
    v_problem text;
    v_run_id  bigint;
    v_nodes   jsonb := spec -> 'nodes';
    v_queues  text[];
BEGIN
    v_problem := flow.spec_problem(spec, max_nodes);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid workflow spec: %', v_problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Workflow spec" in the htdag README';
    END IF;

    INSERT INTO flow.run (name, input, node_count, unfinished)
    VALUES (coalesce(spec ->> 'name', ''), spec -> 'input', jsonb_array_length(v_nodes), jsonb_array_length(v_nodes))
    RETURNING id INTO v_run_id;

    -- Roots are available (or scheduled when "at" is in the future); every
    -- other node waits as pending, which River never fetches.
    WITH x AS (
        SELECT e, i, flow.parse_time(e ->> 'at') AS at
          FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS t(e, i)
    ), ins AS (
        INSERT INTO public.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at)
        SELECT coalesce(x.e -> 'args', '{}'::jsonb),
               x.e ->> 'kind',
               coalesce((x.e ->> 'max_attempts')::smallint, 25),
               jsonb_build_object('flow_run', v_run_id, 'flow_node', x.e ->> 'id'),
               coalesce((x.e ->> 'priority')::smallint, 1),
               coalesce(x.e ->> 'queue', 'default'),
               CASE WHEN jsonb_array_length(coalesce(x.e -> 'deps', '[]'::jsonb)) > 0 THEN 'pending'::public.river_job_state
                    WHEN x.at > now() THEN 'scheduled'::public.river_job_state
                    ELSE 'available'::public.river_job_state END,
               coalesce(x.at, now())
          FROM x
         ORDER BY x.i
        RETURNING id, metadata ->> 'flow_node' AS node_id, state, queue
    ), edges AS (
        SELECT DISTINCT x.e ->> 'id' AS child, d.dep AS parent
          FROM x CROSS JOIN LATERAL jsonb_array_elements_text(x.e -> 'deps') AS d(dep)
    ), par AS (
        SELECT e.child, array_agg(p.id ORDER BY p.id) AS ids
          FROM edges e JOIN ins p ON p.node_id = e.parent GROUP BY e.child
    ), chi AS (
        SELECT e.parent, array_agg(c.id ORDER BY c.id) AS ids
          FROM edges e JOIN ins c ON c.node_id = e.child GROUP BY e.parent
    ), nodes AS (
        INSERT INTO flow.node (job_id, run_id, node_id, parents, children, waiting)
        SELECT i.id, v_run_id, i.node_id, coalesce(par.ids, '{}'), coalesce(chi.ids, '{}'), coalesce(cardinality(par.ids), 0)
          FROM ins i
          LEFT JOIN par ON par.child = i.node_id
          LEFT JOIN chi ON chi.parent = i.node_id
        RETURNING job_id
    )
    SELECT array_agg(DISTINCT ins.queue) FILTER (WHERE ins.state = 'available')
      INTO v_queues
      FROM ins
     WHERE (SELECT count(*) FROM nodes) > 0;

    -- Wake River's producers for each queue that got runnable roots.
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
       FROM unnest(v_queues) AS q;

    RETURN v_run_id;
END;
$$;
COMMENT ON FUNCTION flow.start(jsonb, integer) IS 'Starts a run from a workflow spec (JSON) in the caller''s transaction and returns its id; raises SQLSTATE 22023 naming the problem for an invalid spec. max_nodes overrides the setting flow.max_nodes (default 100000).';
