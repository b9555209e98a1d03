-- The spec checker behind flow.start, flow.expand and sub-workflow nodes.
--
-- Checks a spec, top-level (p_nested false) or nested in a node's "workflow"
-- or given to flow.expand (p_nested true: no "key" or tree limits), nested
-- workflows included unless p_recurse is false: the first problem in spec
-- order, or (when valid) its node ids and edges as ordinals, so that
-- flow.start parses the spec once. depth is how many levels of child runs the
-- spec nests statically (a map counts one, a mapped workflow two),
-- tree_nodes how many nodes it holds at every level (a map's elements are not
-- known yet), kinds the job kinds of its nodes at every level (for the kind
-- grants), latest_at the latest "at" anywhere in it.
--
-- A nested workflow is checked whole when its top run starts; when its own
-- child run starts later (flow.start_node), only its own level is checked
-- again (p_recurse false), so checking costs time linear in the spec's size
-- however deep it nests. max_nodes is the limit its caller worked out (the
-- run owner's, see flow.limits); NULL: 100000.
--
-- Problems are sentences that name the node and the key ("node \"b\" depends
-- on \"x\", which is not a node of the workflow"), a cycle is named by its
-- nodes ("dependency cycle: a -> b -> a"); every caller raises them with
-- SQLSTATE 22023 and writes nothing.
CREATE OR REPLACE FUNCTION flow.spec_check_at(spec jsonb, max_nodes integer, p_nested boolean, p_recurse boolean,
                                   OUT problem text, OUT ids text[],
                                   OUT edge_parent integer[], OUT edge_child integer[],
                                   OUT depth integer, OUT tree_nodes bigint,
                                   OUT kinds text[], OUT latest_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_nodes   jsonb;
    v_n       integer;
    v_max     integer;
    v_distinct bigint;
    v_problem text;
    v_allowed text[] := CASE WHEN p_nested
                             THEN ARRAY['name', 'input', 'nodes', 'queue', 'priority', 'max_attempts', 'at', 'output',
                                        'timeout_ms', 'concurrency']
                             ELSE ARRAY['name', 'input', 'nodes', 'key', 'queue', 'priority', 'max_attempts', 'at', 'output',
                                        'max_depth', 'max_tree_nodes', 'timeout_ms', 'concurrency'] END;
    v_node_keys CONSTANT text[] := ARRAY['id', 'kind', 'args', 'deps', 'queue', 'priority', 'max_attempts', 'at',
                                         'timeout_ms', 'workflow', 'map', 'trigger', 'if', 'wait', 'concurrency'];
    v_if      record;
    v_sub     record;
    v_nested  record;
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
    depth := 0;
    IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
        problem := 'the spec must be a JSON object';
        RETURN;
    END IF;

    SELECT format('unknown key %s (allowed: %s)', to_json(k), array_to_string(v_allowed, ', '))
      INTO v_problem
      FROM jsonb_object_keys(spec) AS k
     WHERE k <> ALL (v_allowed)
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
        WHEN spec ? 'queue' AND (jsonb_typeof(spec -> 'queue') <> 'string' OR length(spec ->> 'queue') > 64
                                 OR (spec ->> 'queue') !~ '^[a-z0-9]+([_|-]?[a-z0-9]+)*$') THEN
            '"queue" must be a River queue name: lower-case letters and digits, in words joined by _ or -, at most 64 characters'
        WHEN spec ? 'priority' AND (spec ->> 'priority') !~ '^[1-4]$' THEN
            '"priority" must be 1, 2, 3 or 4'
        WHEN spec ? 'max_attempts' AND ((spec ->> 'max_attempts') !~ '^[0-9]{1,5}$'
                                        OR (spec ->> 'max_attempts')::integer NOT BETWEEN 1 AND 32767) THEN
            '"max_attempts" must be an integer from 1 to 32767'
        WHEN spec ? 'at' AND (jsonb_typeof(spec -> 'at') <> 'string' OR flow.parse_time(spec ->> 'at') IS NULL) THEN
            '"at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"'
        WHEN spec ? 'output' AND jsonb_typeof(spec -> 'output') IS DISTINCT FROM 'string' THEN
            '"output" must be the id of one of the nodes (a string)'
        WHEN spec ? 'max_depth' AND ((spec ->> 'max_depth') !~ '^[0-9]{1,4}$'
                                     OR (spec ->> 'max_depth')::integer NOT BETWEEN 0 AND 1000) THEN
            '"max_depth" must be an integer from 0 to 1000'
        WHEN spec ? 'max_tree_nodes' AND ((spec ->> 'max_tree_nodes') !~ '^[0-9]{1,10}$'
                                          OR (spec ->> 'max_tree_nodes')::bigint NOT BETWEEN 1 AND 100000000) THEN
            '"max_tree_nodes" must be an integer from 1 to 100000000'
        WHEN spec ? 'timeout_ms' AND (jsonb_typeof(spec -> 'timeout_ms') <> 'number' OR (spec ->> 'timeout_ms') !~ '^[0-9]{1,10}$'
                                      OR (spec ->> 'timeout_ms')::bigint NOT BETWEEN 1 AND 2147483647) THEN
            '"timeout_ms" (the run''s deadline) must be an integer from 1 to 2147483647 (milliseconds)'
        WHEN spec ? 'concurrency' THEN
            '"concurrency" ' || flow.concurrency_problem(spec -> 'concurrency')
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
    v_max := coalesce(max_nodes, 100000);
    IF v_n > v_max THEN
        problem := format('the workflow has %s nodes, more than the limit of %s (see flow.limits)', v_n, v_max);
        RETURN;
    END IF;
    tree_nodes := v_n;

    -- Each node on its own, first problem in spec order. No subqueries: a
    -- subquery anywhere in this CASE, even in a branch that never runs, is
    -- set up on every call (~25 us each); operators and JSON paths are not.
    SELECT s.problem INTO problem FROM (
        SELECT x.i, CASE
            WHEN jsonb_typeof(x.e) <> 'object' THEN
                format('node #%s must be a JSON object', x.i)
            WHEN jsonb_typeof(x.e -> 'id') IS DISTINCT FROM 'string' THEN
                format('node #%s has no "id" (a string)', x.i)
            WHEN (x.e ->> 'id') ~ '[^A-Za-z0-9_.:-]' OR length(x.e ->> 'id') NOT BETWEEN 1 AND 128 THEN
                format('node #%s has invalid id %s: ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -', x.i, to_json(x.e ->> 'id'))
            WHEN x.e - v_node_keys <> '{}'::jsonb THEN
                format('node %s has unknown key %s (allowed: %s)',
                       to_json(x.e ->> 'id'),
                       jsonb_path_query_first(x.e - v_node_keys, '$.keyvalue().key'),
                       array_to_string(v_node_keys, ', '))
            WHEN x.e ? 'wait' AND jsonb_typeof(x.e -> 'wait') <> 'object' THEN
                format('node %s: "wait" must be an object, such as {} or {"timeout_ms": 86400000, "default": {"approved": false}}', to_json(x.e ->> 'id'))
            WHEN x.e ? 'wait' AND x.e ?| ARRAY['kind', 'workflow', 'map', 'args', 'max_attempts', 'timeout_ms', 'at', 'concurrency'] THEN
                format('node %s: a wait node takes no %s (it runs no work: flow.signal completes it; its timeout is "wait": {"timeout_ms": ...})',
                       to_json(x.e ->> 'id'),
                       to_json(CASE WHEN x.e ? 'args' THEN 'args' WHEN x.e ? 'at' THEN 'at' WHEN x.e ? 'concurrency' THEN 'concurrency'
                                    WHEN x.e ? 'kind' THEN 'kind' WHEN x.e ? 'map' THEN 'map' WHEN x.e ? 'max_attempts' THEN 'max_attempts'
                                    WHEN x.e ? 'timeout_ms' THEN 'timeout_ms' ELSE 'workflow' END))
            WHEN x.e ? 'wait' AND (x.e -> 'wait') - ARRAY['timeout_ms', 'default'] <> '{}'::jsonb THEN
                format('node %s: "wait" has unknown key %s (allowed: timeout_ms, default)', to_json(x.e ->> 'id'),
                       jsonb_path_query_first((x.e -> 'wait') - ARRAY['timeout_ms', 'default'], '$.keyvalue().key'))
            WHEN (x.e -> 'wait') ? 'timeout_ms' AND ((x.e -> 'wait' ->> 'timeout_ms') !~ '^[0-9]{1,12}$'
                                                    OR (x.e -> 'wait' ->> 'timeout_ms')::bigint NOT BETWEEN 1 AND 315360000000) THEN
                format('node %s: "wait": "timeout_ms" must be an integer from 1 to 315360000000 (ten years)', to_json(x.e ->> 'id'))
            WHEN (x.e -> 'wait') ? 'default' AND NOT (x.e -> 'wait') ? 'timeout_ms' THEN
                format('node %s: "wait" has a "default" but no "timeout_ms": the default is the output when the wait times out', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ? 'kind' THEN
                format('node %s has both "kind" and "workflow": a node is either a task or a sub-workflow', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND jsonb_typeof(x.e -> 'workflow') <> 'object' THEN
                format('node %s: "workflow" must be a workflow spec (a JSON object with "nodes")', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ? 'args' THEN
                format('node %s: a sub-workflow node takes no "args" (give its nodes args, or the workflow an "input")', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ?| ARRAY['queue', 'priority', 'max_attempts', 'timeout_ms', 'at'] THEN
                format('node %s: a sub-workflow node takes no %s (it runs as a child run, not as a job: set it on the workflow or its nodes)',
                       to_json(x.e ->> 'id'),
                       to_json(CASE WHEN x.e ? 'at' THEN 'at' WHEN x.e ? 'max_attempts' THEN 'max_attempts'
                                    WHEN x.e ? 'priority' THEN 'priority' WHEN x.e ? 'queue' THEN 'queue' ELSE 'timeout_ms' END))
            WHEN x.e ? 'workflow' AND x.e ? 'concurrency' THEN
                format('node %s: a sub-workflow node takes no "concurrency" (set it on its workflow, where it applies to each of its nodes)', to_json(x.e ->> 'id'))
            WHEN x.e ? 'concurrency' AND flow.concurrency_problem(x.e -> 'concurrency') IS NOT NULL THEN
                format('node %s: "concurrency" %s', to_json(x.e ->> 'id'), flow.concurrency_problem(x.e -> 'concurrency'))
            WHEN x.e ? 'map' AND x.e ? 'at' THEN
                format('node %s: a map node takes no "at" (its elements start when it is released)', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ? 'map' AND (x.e -> 'workflow') ? 'input' THEN
                format('node %s: a mapped workflow gets each element as its input; remove its "input"', to_json(x.e ->> 'id'))
            WHEN NOT x.e ? 'workflow' AND NOT x.e ? 'wait' AND (jsonb_typeof(x.e -> 'kind') IS DISTINCT FROM 'string' OR x.e ->> 'kind' = '') THEN
                format('node %s has no "kind" (a non-empty string), no "workflow" and no "wait"', to_json(x.e ->> 'id'))
            WHEN length(x.e ->> 'kind') > 127 THEN
                format('node %s has a "kind" longer than 127 characters', to_json(x.e ->> 'id'))
            WHEN x.e ->> 'kind' IN ('flow.workflow', 'flow.map', 'flow.start', 'flow.wait', 'flow.run_deadline') THEN
                format('node %s: kind %s is htdag''s own (sub-workflow, map, wait, River-door and run deadline jobs), not a node''s', to_json(x.e ->> 'id'), to_json(x.e ->> 'kind'))
            WHEN x.e ? 'args' AND jsonb_typeof(x.e -> 'args') <> 'object' THEN
                format('node %s: "args" must be a JSON object, not %s', to_json(x.e ->> 'id'), jsonb_typeof(x.e -> 'args'))
            WHEN x.e ? 'map' AND jsonb_typeof(x.e -> 'map') IS DISTINCT FROM 'string' THEN
                format('node %s: "map" must be the id of the parent whose output array it maps over', to_json(x.e ->> 'id'))
            WHEN x.e ->> 'map' = x.e ->> 'id' THEN
                format('node %s maps over itself', to_json(x.e ->> 'id'))
            WHEN x.e ? 'deps' AND jsonb_typeof(x.e -> 'deps') <> 'array' THEN
                format('node %s: "deps" must be an array of node ids', to_json(x.e ->> 'id'))
            WHEN jsonb_path_exists(x.e -> 'deps', 'strict $[*] ? (@.type() != "string")') THEN
                format('node %s: "deps" must be an array of node ids (strings)', to_json(x.e ->> 'id'))
            WHEN (x.e -> 'deps') ? (x.e ->> 'id') THEN
                format('node %s depends on itself', to_json(x.e ->> 'id'))
            WHEN x.e ? 'queue' AND (jsonb_typeof(x.e -> 'queue') <> 'string' OR length(x.e ->> 'queue') > 64
                                    OR (x.e ->> 'queue') !~ '^[a-z0-9]+([_|-]?[a-z0-9]+)*$') THEN
                format('node %s: "queue" must be a River queue name: lower-case letters and digits, in words joined by _ or -, at most 64 characters', to_json(x.e ->> 'id'))
            WHEN x.e ? 'priority' AND (x.e ->> 'priority') !~ '^[1-4]$' THEN
                format('node %s: "priority" must be 1, 2, 3 or 4', to_json(x.e ->> 'id'))
            WHEN x.e ? 'max_attempts' AND ((x.e ->> 'max_attempts') !~ '^[0-9]{1,5}$'
                                           OR (x.e ->> 'max_attempts')::integer NOT BETWEEN 1 AND 32767) THEN
                format('node %s: "max_attempts" must be an integer from 1 to 32767', to_json(x.e ->> 'id'))
            WHEN x.e ? 'at' AND (jsonb_typeof(x.e -> 'at') <> 'string' OR flow.parse_time(x.e ->> 'at') IS NULL) THEN
                format('node %s: "at" must be an RFC 3339 timestamp with a zone, such as "2026-01-02T15:04:05Z"', to_json(x.e ->> 'id'))
            WHEN x.e ? 'trigger' AND (jsonb_typeof(x.e -> 'trigger') IS DISTINCT FROM 'string'
                                      OR NOT (x.e ->> 'trigger') = ANY (ARRAY['all_success', 'all_done', 'one_failed', 'none_failed'])) THEN
                format('node %s: "trigger" must be one of all_success, all_done, one_failed, none_failed', to_json(x.e ->> 'id'))
            WHEN x.e ? 'trigger' AND NOT x.e ? 'map' AND jsonb_array_length(coalesce(x.e -> 'deps', '[]'::jsonb)) = 0 THEN
                format('node %s has a "trigger" but no "deps": a node without parents runs when the run starts', to_json(x.e ->> 'id'))
            WHEN x.e ? 'if' AND NOT x.e ? 'map' AND jsonb_array_length(coalesce(x.e -> 'deps', '[]'::jsonb)) = 0 THEN
                format('node %s has an "if" but no "deps": a condition is checked when the node''s parents finish (a root can skip itself at run time: flow.Skip)', to_json(x.e ->> 'id'))
            WHEN x.e ? 'if' AND (jsonb_typeof(x.e -> 'if') IS DISTINCT FROM 'string' OR length(x.e ->> 'if') NOT BETWEEN 1 AND 2000) THEN
                format('node %s: "if" must be a JSON path predicate of at most 2000 characters, such as "$.input.lang == \"go\"" or "$.parents.scan.issues > 0"', to_json(x.e ->> 'id'))
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
    -- An "if" must parse as a JSON path (a subtransaction each, so only
    -- for the nodes that have one; a spec without any runs no query here).
    IF v_nodes @? '$[*].if' THEN
        FOR v_if IN SELECT x.e ->> 'id' AS id, x.e ->> 'if' AS cond
                      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                     WHERE x.e ? 'if'
                     ORDER BY x.i LOOP
            BEGIN
                PERFORM v_if.cond::jsonpath;
            EXCEPTION WHEN OTHERS THEN
                problem := format('node %s: "if" is not a JSON path: %s', to_json(v_if.id), SQLERRM);
                RETURN;
            END;
        END LOOP;
    END IF;
    -- Kinds, latest "at" and the ids in spec order, in one pass (each
    -- statement here costs every start; duplicates are looked for only when
    -- the distinct ids are fewer than the nodes).
    SELECT array_agg(DISTINCT x.e ->> 'kind') FILTER (WHERE x.e ? 'kind'),
           max(flow.parse_time(x.e ->> 'at')),
           array_agg(x.e ->> 'id' ORDER BY x.i),
           count(DISTINCT x.e ->> 'id')
      INTO kinds, latest_at, ids, v_distinct
      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i);
    latest_at := greatest(latest_at, flow.parse_time(spec ->> 'at'));

    -- Nested workflows, each checked the same way (depth first, spec order).
    IF p_recurse AND v_nodes @? '$[*].workflow' THEN
        FOR v_sub IN SELECT x.e ->> 'id' AS id, x.e -> 'workflow' AS wf, x.e ? 'map' AS mapped
                       FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                      WHERE x.e ? 'workflow'
                      ORDER BY x.i LOOP
            SELECT * INTO v_nested FROM flow.spec_check_at(v_sub.wf, max_nodes, true, true) c;
            IF v_nested.problem IS NOT NULL THEN
                problem := format('node %s: workflow: %s', to_json(v_sub.id), v_nested.problem);
                ids := NULL;
                RETURN;
            END IF;
            depth := greatest(depth, v_nested.depth + CASE WHEN v_sub.mapped THEN 2 ELSE 1 END);
            tree_nodes := tree_nodes + v_nested.tree_nodes;
            kinds := kinds || v_nested.kinds;
            latest_at := greatest(latest_at, v_nested.latest_at);
        END LOOP;
        IF cardinality(kinds) > 1 THEN
            SELECT array_agg(DISTINCT k ORDER BY k) INTO kinds FROM unnest(kinds) AS k;
        END IF;
    END IF;
    -- A map of tasks is one level of child run.
    IF depth = 0 AND v_nodes @? '$[*].map' THEN
        depth := 1;
    END IF;

    -- Duplicate ids: the first one used twice, in spec order.
    IF v_distinct < v_n THEN
        SELECT format('node id %s is used more than once', to_json(t.id))
          INTO problem
          FROM unnest(ids) WITH ORDINALITY AS t(id, i)
         GROUP BY t.id
        HAVING count(*) > 1
         ORDER BY min(t.i) LIMIT 1;
        ids := NULL;
        RETURN;
    END IF;
    IF spec ? 'output' AND NOT (spec ->> 'output') = ANY (ids) THEN
        problem := format('"output" names unknown node %s', to_json(spec ->> 'output'));
        ids := NULL;
        RETURN;
    END IF;

    -- The edges as ordinals (deps, and the parent a map node maps over); a
    -- dependency on an unknown id gets a NULL parent, which sorts last.
    SELECT array_agg(m.p ORDER BY m.p, m.c), array_agg(m.c ORDER BY m.p, m.c)
      INTO edge_parent, edge_child
      FROM (SELECT DISTINCT t.i::integer AS p, d.c
              FROM (SELECT x.i::integer AS c, dep
                      FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                     CROSS JOIN LATERAL jsonb_array_elements_text(
                               coalesce(x.e -> 'deps', '[]'::jsonb)
                               || CASE WHEN x.e ? 'map' THEN jsonb_build_array(x.e -> 'map') ELSE '[]'::jsonb END) AS dep) d
              LEFT JOIN unnest(ids) WITH ORDINALITY AS t(id, i) ON t.id = d.dep) m;
    IF edge_parent IS NULL THEN
        RETURN; -- no edges, no cycle
    END IF;
    IF edge_parent[cardinality(edge_parent)] IS NULL THEN
        SELECT format(CASE WHEN d.is_map THEN 'node %s maps over unknown node %s' ELSE 'node %s depends on unknown node %s' END,
                      to_json(d.id), to_json(d.dep))
          INTO problem
          FROM (SELECT x.i, x.e ->> 'id' AS id, dep, false AS is_map
                  FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                 CROSS JOIN LATERAL jsonb_array_elements_text(x.e -> 'deps') AS dep
                UNION ALL
                SELECT x.i, x.e ->> 'id', x.e ->> 'map', true
                  FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                 WHERE x.e ? 'map') d
          LEFT JOIN unnest(ids) AS t(id) ON t.id = d.dep
         WHERE t.id IS NULL
         ORDER BY d.i, d.is_map LIMIT 1;
        ids := NULL; edge_parent := NULL; edge_child := NULL;
        RETURN;
    END IF;

    -- Cycle check: Kahn's algorithm over the edges; the nodes left with
    -- parents afterwards lie on or below a cycle, which is walked to name it.
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

    SELECT min(g) INTO v_v FROM generate_series(1, v_n) AS g WHERE v_indeg[g] > 0;
    v_path := ARRAY[v_v];
    LOOP
        SELECT e.p INTO v_c
          FROM unnest(v_ep, v_ec) AS e(p, c)
         WHERE e.c = v_v AND v_indeg[e.p] > 0
         LIMIT 1;
        v_pos := array_position(v_path, v_c);
        IF v_pos IS NOT NULL THEN
            v_path := v_path[v_pos:] || v_c;
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
COMMENT ON FUNCTION flow.spec_check_at(jsonb, integer, boolean, boolean) IS 'Checks a top-level or nested workflow spec (nested workflows too, unless p_recurse is false): the first problem, or its ids, edges, static depth, node count, kinds and latest "at".';
