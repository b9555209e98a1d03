-- Hierarchy: a node can be a whole sub-workflow, expand into one at run time,
-- or map over a parent's output array. All three are the same mechanism: the
-- node's job starts a child run (flow.run.parent_job_id) and waits for it as
-- a 'pending' job (River never touches pending jobs); when the child run
-- finishes, the release trigger finishes the node in the same transaction
-- (completed with the child run's output, or discarded/cancelled with an error
-- that says where the child failed), which releases the node's own children.
--
--   sub-workflow node  {"id": "s", "workflow": {"nodes": [...]}}     (job kind 'flow.workflow')
--   map node           {"id": "m", "map": "p", "kind": "k"}          (job kind 'flow.map')
--                      {"id": "m", "map": "p", "workflow": {...}}
--   expansion          SELECT flow.expand(job_id, spec) in the node's completion transaction
--
-- A tree of runs has one top run (depth 0); each child run records its parent
-- run, the parent node's job, its top run (root_run_id) and its depth. The top
-- run holds the tree's limits (max_depth, max_tree_nodes); flow.tree_count
-- counts the nodes its child runs added.

ALTER TABLE flow.run
    ADD COLUMN parent_run_id  bigint REFERENCES flow.run (id) ON DELETE CASCADE,
    ADD COLUMN parent_job_id  bigint,
    ADD COLUMN root_run_id    bigint,
    ADD COLUMN depth          integer NOT NULL DEFAULT 0,
    ADD COLUMN output_node    text,
    ADD COLUMN is_map         boolean NOT NULL DEFAULT false,
    ADD COLUMN max_depth      integer,
    ADD COLUMN max_tree_nodes integer;

-- Runs made before this migration are top runs of one level.
UPDATE flow.run SET max_depth = 32, max_tree_nodes = 1000000 WHERE max_depth IS NULL;

ALTER TABLE flow.run
    ADD CONSTRAINT run_child_links_all_or_none CHECK (num_nulls(parent_run_id, parent_job_id, root_run_id) IN (0, 3)),
    ADD CONSTRAINT run_depth_zero_iff_top CHECK ((depth = 0) = (parent_run_id IS NULL)),
    ADD CONSTRAINT run_limits_only_on_top CHECK ((parent_run_id IS NULL) = (num_nulls(max_depth, max_tree_nodes) = 0)),
    ADD CONSTRAINT run_key_only_on_top CHECK (key IS NULL OR parent_run_id IS NULL);

COMMENT ON COLUMN flow.run.parent_run_id IS 'For a child run: the run holding the node that started it (NULL for a top run).';
COMMENT ON COLUMN flow.run.parent_job_id IS 'For a child run: the job id of the node (sub-workflow, map or expanded node) that waits for it.';
COMMENT ON COLUMN flow.run.root_run_id IS 'For a child run: the top run of its tree.';
COMMENT ON COLUMN flow.run.depth IS 'Level in the tree: 0 for a top run, parent''s depth + 1 for a child run.';
COMMENT ON COLUMN flow.run.output_node IS 'The spec''s "output": the node whose output is the run''s output (NULL: the sink nodes'' outputs keyed by id).';
COMMENT ON COLUMN flow.run.is_map IS 'A map''s child run: one node per element, ids "0".."n-1"; its output is the array of their outputs in element order.';
COMMENT ON COLUMN flow.run.max_depth IS 'Top runs: deepest child run allowed (spec "max_depth", default 32).';
COMMENT ON COLUMN flow.run.max_tree_nodes IS 'Top runs: most nodes allowed in the whole tree (spec "max_tree_nodes", default 1000000).';

-- Nodes added to a tree by its child runs, per top run, spread over a few
-- rows (shard: the inserting backend's pid modulo 16) so that concurrent
-- expansions do not queue on one row lock until their commits. The tree's
-- size is the top run's node_count plus their sum (flow.tree_size).
CREATE TABLE flow.tree_count (
    root_run_id bigint   NOT NULL REFERENCES flow.run (id) ON DELETE CASCADE,
    shard       smallint NOT NULL,
    nodes       integer  NOT NULL,
    PRIMARY KEY (root_run_id, shard),
    CONSTRAINT tree_count_shard_in_range CHECK (shard BETWEEN 0 AND 15),
    CONSTRAINT tree_count_nodes_positive CHECK (nodes > 0)
) WITH (fillfactor = 50);
COMMENT ON TABLE flow.tree_count IS 'Nodes added by child runs to each top run''s tree, in up to 16 rows per tree (see flow.tree_size).';

-- A node waits for at most one child run; this is also how a node finds it.
CREATE UNIQUE INDEX run_parent_job_idx ON flow.run (parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE INDEX run_parent_run_idx ON flow.run (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX run_root_run_idx ON flow.run (root_run_id) WHERE root_run_id IS NOT NULL;

ALTER TABLE flow.node
    ADD COLUMN mode text,
    ADD CONSTRAINT node_mode_valid CHECK (mode IN ('workflow', 'map'));
COMMENT ON COLUMN flow.node.mode IS 'NULL for a task; ''workflow'' or ''map'' for a node that runs as a child run when released instead of as a job.';

-- ---------------------------------------------------------------------------
-- Spec checking, now recursive.
-- ---------------------------------------------------------------------------

-- Checks a spec, top-level (p_nested false) or nested in a node's "workflow"
-- or given to flow.expand (p_nested true: no "key" or tree limits). Besides
-- flow.spec_check's outputs: depth is how many levels of child runs the spec
-- nests statically (a map counts one, a mapped workflow two), tree_nodes how
-- many nodes it holds at every level (a map's elements are not known yet).
CREATE FUNCTION flow.spec_check_at(spec jsonb, max_nodes integer, p_nested boolean,
                                   OUT problem text, OUT ids text[],
                                   OUT edge_parent integer[], OUT edge_child integer[],
                                   OUT depth integer, OUT tree_nodes bigint)
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
    v_problem text;
    v_allowed text[] := CASE WHEN p_nested
                             THEN ARRAY['name', 'input', 'nodes', 'queue', 'priority', 'max_attempts', 'at', 'output']
                             ELSE ARRAY['name', 'input', 'nodes', 'key', 'queue', 'priority', 'max_attempts', 'at', 'output',
                                        'max_depth', 'max_tree_nodes'] END;
    v_node_keys CONSTANT text[] := ARRAY['id', 'kind', 'args', 'deps', 'queue', 'priority', 'max_attempts', 'at',
                                         'timeout_ms', 'workflow', 'map'];
    v_sub     record;
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
        WHEN spec ? 'queue' AND (jsonb_typeof(spec -> 'queue') <> 'string' OR length(spec ->> 'queue') NOT BETWEEN 1 AND 127) THEN
            '"queue" must be a string of 1 to 127 characters'
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
    tree_nodes := v_n;

    -- Each node on its own, first problem in spec order.
    SELECT s.problem INTO problem FROM (
        SELECT x.i, CASE
            WHEN jsonb_typeof(x.e) <> 'object' THEN
                format('node #%s must be a JSON object', x.i)
            WHEN jsonb_typeof(x.e -> 'id') IS DISTINCT FROM 'string' THEN
                format('node #%s has no "id" (a string)', x.i)
            WHEN (x.e ->> 'id') ~ '[^A-Za-z0-9_.:-]' OR length(x.e ->> 'id') NOT BETWEEN 1 AND 128 THEN
                format('node #%s has invalid id %s: ids are 1 to 128 characters from A-Z a-z 0-9 _ . : -', x.i, to_json(x.e ->> 'id'))
            WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(x.e) k WHERE k <> ALL (v_node_keys)) THEN
                format('node %s has unknown key %s (allowed: %s)',
                       to_json(x.e ->> 'id'),
                       (SELECT to_json(k) FROM jsonb_object_keys(x.e) k WHERE k <> ALL (v_node_keys) ORDER BY k LIMIT 1),
                       array_to_string(v_node_keys, ', '))
            WHEN x.e ? 'workflow' AND x.e ? 'kind' THEN
                format('node %s has both "kind" and "workflow": a node is either a task or a sub-workflow', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND jsonb_typeof(x.e -> 'workflow') <> 'object' THEN
                format('node %s: "workflow" must be a workflow spec (a JSON object with "nodes")', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ? 'args' THEN
                format('node %s: a sub-workflow node takes no "args" (give its nodes args, or the workflow an "input")', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ?| ARRAY['queue', 'priority', 'max_attempts', 'timeout_ms', 'at'] THEN
                format('node %s: a sub-workflow node takes no %s (it runs as a child run, not as a job: set it on the workflow or its nodes)',
                       to_json(x.e ->> 'id'),
                       (SELECT to_json(k) FROM jsonb_object_keys(x.e) k
                         WHERE k = ANY (ARRAY['queue', 'priority', 'max_attempts', 'timeout_ms', 'at']) ORDER BY k LIMIT 1))
            WHEN x.e ? 'map' AND x.e ? 'at' THEN
                format('node %s: a map node takes no "at" (its elements start when it is released)', to_json(x.e ->> 'id'))
            WHEN x.e ? 'workflow' AND x.e ? 'map' AND (x.e -> 'workflow') ? 'input' THEN
                format('node %s: a mapped workflow gets each element as its input; remove its "input"', to_json(x.e ->> 'id'))
            WHEN NOT x.e ? 'workflow' AND (jsonb_typeof(x.e -> 'kind') IS DISTINCT FROM 'string' OR x.e ->> 'kind' = '') THEN
                format('node %s has no "kind" (a non-empty string) and no "workflow"', to_json(x.e ->> 'id'))
            WHEN length(x.e ->> 'kind') > 127 THEN
                format('node %s has a "kind" longer than 127 characters', to_json(x.e ->> 'id'))
            WHEN x.e ->> 'kind' IN ('flow.workflow', 'flow.map') THEN
                format('node %s: kind %s is reserved for htdag''s own sub-workflow and map nodes', to_json(x.e ->> 'id'), to_json(x.e ->> 'kind'))
            WHEN x.e ? 'args' AND jsonb_typeof(x.e -> 'args') <> 'object' THEN
                format('node %s: "args" must be a JSON object, not %s', to_json(x.e ->> 'id'), jsonb_typeof(x.e -> 'args'))
            WHEN x.e ? 'map' AND jsonb_typeof(x.e -> 'map') IS DISTINCT FROM 'string' THEN
                format('node %s: "map" must be the id of the parent whose output array it maps over', to_json(x.e ->> 'id'))
            WHEN x.e ->> 'map' = x.e ->> 'id' THEN
                format('node %s maps over itself', to_json(x.e ->> 'id'))
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

    -- Nested workflows, each checked the same way (depth first, spec order).
    FOR v_sub IN SELECT x.e ->> 'id' AS id, x.e -> 'workflow' AS wf, x.e ? 'map' AS mapped
                   FROM jsonb_array_elements(v_nodes) WITH ORDINALITY AS x(e, i)
                  WHERE x.e ? 'workflow'
                  ORDER BY x.i LOOP
        SELECT c.problem, c.depth, c.tree_nodes INTO v_problem, v_v, v_c
          FROM flow.spec_check_at(v_sub.wf, max_nodes, true) c;
        IF v_problem IS NOT NULL THEN
            problem := format('node %s: workflow: %s', to_json(v_sub.id), v_problem);
            RETURN;
        END IF;
        depth := greatest(depth, v_v + CASE WHEN v_sub.mapped THEN 2 ELSE 1 END);
        tree_nodes := tree_nodes + v_c;
    END LOOP;
    -- A map of tasks is one level of child run.
    IF depth = 0 AND EXISTS (SELECT 1 FROM jsonb_array_elements(v_nodes) AS e WHERE e ? 'map') THEN
        depth := 1;
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

    -- Cycle check: Kahn's algorithm (as in 0002).
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
COMMENT ON FUNCTION flow.spec_check_at(jsonb, integer, boolean) IS 'Checks a top-level or nested workflow spec, nested workflows included: the first problem, or its ids, edges, static depth and node count.';

CREATE OR REPLACE FUNCTION flow.spec_check(spec jsonb, max_nodes integer DEFAULT NULL,
                                           OUT problem text, OUT ids text[],
                                           OUT edge_parent integer[], OUT edge_child integer[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.problem, c.ids, c.edge_parent, c.edge_child FROM flow.spec_check_at(spec, max_nodes, false) c;
$$;

-- ---------------------------------------------------------------------------
-- Inserting runs.
-- ---------------------------------------------------------------------------

-- Inserts the jobs and flow.node rows of run p_run_id from a checked spec
-- (ids and edges from flow.spec_check_at) and wakes the workers of the
-- queues that got runnable roots. Sub-workflow and map nodes get job kinds
-- 'flow.workflow' / 'flow.map' and stay pending: they are started by
-- flow.start_node, not worked by River. Returns the job ids of sub-workflow
-- nodes without parents, which the caller starts at once. A node spec may
-- carry "item" (set only by map runs, never accepted from users): it goes to
-- the job's metadata as flow_item, read by flow.node_inputs.
CREATE FUNCTION flow.insert_nodes(p_run_id bigint, p_spec jsonb, p_ids text[], p_ep integer[], p_ec integer[])
RETURNS bigint[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_jobs   bigint[];
    v_order  text[];
    v_queues text[];
    v_roots  bigint[];
BEGIN
    -- Rows go in in spec order, so ascending job ids follow the spec (checked below).
    WITH ins AS (
        INSERT INTO public.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at)
        SELECT CASE WHEN x.e ? 'map' THEN jsonb_strip_nulls(jsonb_build_object(
                                              'over', x.e -> 'map', 'kind', x.e -> 'kind',
                                              'args', x.e -> 'args', 'workflow', x.e -> 'workflow'))
                    WHEN x.e ? 'workflow' THEN x.e -> 'workflow'
                    ELSE coalesce(x.e -> 'args', '{}'::jsonb) END,
               CASE WHEN x.e ? 'map' THEN 'flow.map' WHEN x.e ? 'workflow' THEN 'flow.workflow' ELSE x.e ->> 'kind' END,
               coalesce((x.e ->> 'max_attempts')::smallint, (p_spec ->> 'max_attempts')::smallint, 25),
               jsonb_build_object('flow_run', p_run_id, 'flow_node', x.e ->> 'id')
                   || CASE WHEN x.e ? 'timeout_ms' THEN jsonb_build_object('flow_timeout_ms', (x.e ->> 'timeout_ms')::bigint)
                           ELSE '{}'::jsonb END
                   || CASE WHEN x.e ? 'item' THEN jsonb_build_object('flow_item', x.e -> 'item') ELSE '{}'::jsonb END,
               coalesce((x.e ->> 'priority')::smallint, (p_spec ->> 'priority')::smallint, 1),
               coalesce(x.e ->> 'queue', p_spec ->> 'queue', 'default'),
               CASE WHEN x.has_parents OR x.e ? 'workflow' THEN 'pending'::public.river_job_state
                    WHEN x.at > now() THEN 'scheduled'::public.river_job_state
                    ELSE 'available'::public.river_job_state END,
               coalesce(x.at, now())
          FROM (SELECT e, i, coalesce(flow.parse_time(e ->> 'at'), flow.parse_time(p_spec ->> 'at')) AS at,
                       jsonb_array_length(coalesce(e -> 'deps', '[]'::jsonb)) > 0 OR e ? 'map' AS has_parents
                  FROM jsonb_array_elements(p_spec -> 'nodes') WITH ORDINALITY AS t(e, i)) x
         ORDER BY x.i
        RETURNING id, metadata ->> 'flow_node' AS node_id, state, queue, kind
    )
    SELECT array_agg(id ORDER BY id), array_agg(node_id ORDER BY id),
           array_agg(DISTINCT queue) FILTER (WHERE state = 'available')
      INTO v_jobs, v_order, v_queues
      FROM ins;
    IF v_order IS DISTINCT FROM p_ids THEN
        RAISE EXCEPTION 'htdag: internal error: job ids were not assigned in spec order';
    END IF;

    WITH n AS (
        SELECT * FROM unnest(v_jobs, p_ids) WITH ORDINALITY AS n(job_id, node_id, i)
    ), e AS (
        SELECT pj.job_id AS parent, cj.job_id AS child
          FROM unnest(p_ep, p_ec) AS e(p, c)
          JOIN n pj ON pj.i = e.p
          JOIN n cj ON cj.i = e.c
    ), ins AS (
        INSERT INTO flow.node (job_id, run_id, node_id, parents, children, waiting, mode)
        SELECT n.job_id, p_run_id, n.node_id,
               coalesce(par.ids, '{}'), coalesce(chi.ids, '{}'), coalesce(cardinality(par.ids), 0),
               CASE WHEN x.e ? 'map' THEN 'map' WHEN x.e ? 'workflow' THEN 'workflow' END
          FROM n
          JOIN jsonb_array_elements(p_spec -> 'nodes') WITH ORDINALITY AS x(e, i) ON x.i = n.i
          LEFT JOIN (SELECT child, array_agg(parent ORDER BY parent) AS ids FROM e GROUP BY child) par ON par.child = n.job_id
          LEFT JOIN (SELECT parent, array_agg(child ORDER BY child) AS ids FROM e GROUP BY parent) chi ON chi.parent = n.job_id
        RETURNING job_id, mode, waiting
    )
    SELECT array_agg(job_id ORDER BY job_id) FILTER (WHERE mode = 'workflow' AND waiting = 0)
      INTO v_roots
      FROM ins;

    -- Wake River's producers for each queue that got runnable roots.
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
       FROM unnest(v_queues) AS q;
    RETURN v_roots;
END;
$$;
COMMENT ON FUNCTION flow.insert_nodes(bigint, jsonb, text[], integer[], integer[]) IS 'Internal: inserts a run''s jobs and nodes from a checked spec; returns its root sub-workflow nodes to start.';

-- The number of nodes in a top run's tree: its own and its child runs'.
CREATE FUNCTION flow.tree_size(p_root_run_id bigint) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.node_count + coalesce((SELECT sum(t.nodes) FROM flow.tree_count t WHERE t.root_run_id = r.id), 0)
      FROM flow.run r WHERE r.id = p_root_run_id;
$$;
COMMENT ON FUNCTION flow.tree_size(bigint) IS 'Nodes in a top run''s whole tree (its own and every child run''s).';

-- Starts a child run of node p_job (of run p_run) from a checked spec, under
-- the tree's limits, and starts its root sub-workflow nodes (recursively).
-- Returns the child run's id; raises SQLSTATE 22023 naming the limit when one
-- is exceeded. Child runs are 'running' from the start: their node is.
CREATE FUNCTION flow.start_child(p_job bigint, p_run bigint, p_spec jsonb, p_input jsonb, p_is_map boolean,
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

    INSERT INTO flow.run (name, state, input, node_count, unfinished, started_at,
                          parent_run_id, parent_job_id, root_run_id, depth, output_node, is_map)
    VALUES (coalesce(p_spec ->> 'name', (SELECT node_id FROM flow.node WHERE job_id = p_job)), 'running', p_input, v_n, v_n, now(),
            p_run, p_job, v_root.id, v_parent.depth + 1, p_spec ->> 'output', p_is_map)
    RETURNING id INTO v_child;
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

-- Starts a released sub-workflow or map node: inserts its child run and
-- returns NULL, or returns the node's output when it is finished at once (a
-- map over an empty array: []). Raises SQLSTATE 22023 when the node cannot
-- start (a map over something that is not an array, a limit exceeded).
-- A child run's input is the spec's "input" when it has one, else the node's
-- own inputs ({"input": ..., "parents": {...}}, see flow.node_inputs); the
-- child runs of a mapped workflow get their element as input.
CREATE FUNCTION flow.start_node(p_job bigint) RETURNS jsonb
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
        SELECT * INTO v_check FROM flow.spec_check_at(v.args, NULL, true);
        IF v_check.problem IS NOT NULL THEN
            RAISE EXCEPTION 'node % has an invalid workflow: %', to_json(v.node_id), v_check.problem
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM flow.start_child(p_job, v.run_id, v.args, coalesce(v.args -> 'input', flow.node_inputs(p_job)), false,
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
                     END ORDER BY x.i),
           array_agg((x.i - 1)::text ORDER BY x.i)
      INTO v_nodes, v_ids
      FROM jsonb_array_elements(v_items) WITH ORDINALITY AS x(item, i);
    PERFORM flow.start_child(p_job, v.run_id, jsonb_build_object('name', v.node_id, 'nodes', v_nodes),
                             flow.node_inputs(p_job), true, v_ids, '{}', '{}');
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.start_node(bigint) IS 'Internal: starts a released sub-workflow or map node''s child run; returns its output when it finishes at once (a map over []).';

-- Starts released sub-workflow and map nodes (still pending), each in its own
-- subtransaction, and returns those that finished at once: completed with an
-- output, or discarded with an error (a node that cannot start fails like a
-- task, it does not fail the transaction that released it).
CREATE FUNCTION flow.start_special(p_jobs bigint[])
RETURNS TABLE (job_id bigint, state text, output jsonb, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id  bigint;
    v_out jsonb;
BEGIN
    FOR v_id IN SELECT j.id FROM public.river_job j WHERE j.id = ANY (p_jobs) AND j.state::text = 'pending' ORDER BY j.id LOOP
        BEGIN
            v_out := flow.start_node(v_id);
            IF v_out IS NOT NULL THEN
                job_id := v_id; state := 'completed'; output := v_out; error := NULL;
                RETURN NEXT;
            END IF;
        EXCEPTION WHEN invalid_parameter_value THEN
            job_id := v_id; state := 'discarded'; output := NULL; error := 'htdag: ' || SQLERRM;
            RETURN NEXT;
        END;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION flow.start_special(bigint[]) IS 'Internal: starts released sub-workflow and map nodes; returns those finished at once, with their outcome.';

-- Applies flow.start_special's outcomes to the jobs; returns (job id, run id,
-- new state) of each job it finished.
CREATE FUNCTION flow.finish_special(p_jobs bigint[], p_states text[], p_outputs jsonb[], p_errors text[])
RETURNS TABLE (job_id bigint, run_id bigint, state text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.river_job j
       SET state = o.state::public.river_job_state,
           finalized_at = now(),
           attempt = greatest(j.attempt, 1),
           attempted_at = coalesce(j.attempted_at, now()),
           metadata = CASE WHEN o.output IS NULL THEN j.metadata ELSE j.metadata || jsonb_build_object('output', o.output) END,
           errors = CASE WHEN o.error IS NULL THEN j.errors
                         ELSE array_append(j.errors, jsonb_build_object('at', now(), 'attempt', greatest(j.attempt, 1),
                                                                         'trace', '', 'error', o.error)) END
      FROM unnest(p_jobs, p_states, p_outputs, p_errors) AS o(id, state, output, error)
     WHERE j.id = o.id AND j.state::text = 'pending'
    RETURNING j.id, (j.metadata ->> 'flow_run')::bigint, j.state::text;
$$;
COMMENT ON FUNCTION flow.finish_special(bigint[], text[], jsonb[], text[]) IS 'Internal: finishes sub-workflow or map nodes that could not start or had nothing to do.';

-- A run's output: the "output" node's output, a map's outputs in element
-- order, or else the completed sink nodes' outputs keyed by node id.
CREATE FUNCTION flow.run_output(p_run_id bigint, p_is_map boolean, p_output_node text) RETURNS jsonb
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

-- The error a node gets when its child run did not complete: which node of
-- the child failed and why. Nested failures read as a path from the top.
CREATE FUNCTION flow.sub_run_error(p_run_id bigint, p_state text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN p_state = 'cancelled' THEN format('htdag: sub-run %s was cancelled', p_run_id)
           ELSE format('htdag: sub-run %s failed: %s', p_run_id, coalesce(
                (SELECT format('node %s %s: %s', to_json(n.node_id), j.state,
                               coalesce(j.errors[array_upper(j.errors, 1)] ->> 'error', '(no error recorded)'))
                   FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
                  WHERE n.run_id = p_run_id AND j.state IN ('discarded', 'cancelled')
                  ORDER BY j.state = 'cancelled', j.finalized_at, j.id
                  LIMIT 1), 'no node failed'))
           END;
$$;
COMMENT ON FUNCTION flow.sub_run_error(bigint, text) IS 'The error recorded on a node whose child run failed or was cancelled.';

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

    -- Idempotent start (see 0002).
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

-- Run-time expansion: called in the completion transaction of a running node
-- (the Go API is flow.Expand). Inserts the child run from spec and parks the
-- node (back to 'pending', which River leaves alone) until the child run
-- finishes; the node's output is then the child run's output and its
-- children are released. The child run's input is the spec's "input", else
-- the node's own inputs. Returns the child run's id.
CREATE FUNCTION flow.expand(p_job_id bigint, spec jsonb) RETURNS bigint
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

    SELECT * INTO v_check FROM flow.spec_check_at(spec, NULL, true);
    IF v_check.problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid workflow spec: %', v_check.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Workflow spec" in the htdag README';
    END IF;
    SELECT * INTO STRICT v_run FROM flow.run WHERE id = v_job.run_id;
    SELECT * INTO STRICT v_root FROM flow.run WHERE id = coalesce(v_run.root_run_id, v_run.id);
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

    v_child := flow.start_child(p_job_id, v_job.run_id, spec, coalesce(spec -> 'input', flow.node_inputs(p_job_id)), false,
                                v_check.ids, v_check.edge_parent, v_check.edge_child);
    UPDATE public.river_job SET state = 'pending' WHERE id = p_job_id;
    RETURN v_child;
END;
$$;
COMMENT ON FUNCTION flow.expand(bigint, jsonb) IS 'Expands a running node into a child run (in its completion transaction): the node finishes when the child run does, with its output. Returns the child run id.';

-- A node's inputs now include "item": its element, for a node of a map.
CREATE OR REPLACE FUNCTION flow.node_inputs(p_job_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
               'input', r.input,
               'parents', coalesce((SELECT jsonb_object_agg(p.node_id, j.metadata -> 'output')
                                      FROM flow.node p
                                      JOIN public.river_job j ON j.id = p.job_id
                                     WHERE p.job_id = ANY (n.parents)), '{}'::jsonb))
           || CASE WHEN self.metadata ? 'flow_item' THEN jsonb_build_object('item', self.metadata -> 'flow_item')
                   ELSE '{}'::jsonb END
      FROM flow.node n
      JOIN flow.run r ON r.id = n.run_id
      JOIN public.river_job self ON self.id = n.job_id
     WHERE n.job_id = p_job_id;
$$;

-- ---------------------------------------------------------------------------
-- The release trigger, now finishing nodes whose child runs finished.
--
-- Same steps as in 0001, run in rounds: a round's changes can finish a child
-- run, which finishes its node (completed with the run's output, or failed),
-- or release a map node that finishes at once; those node changes are the
-- next round's input, in this same invocation (the trigger's own updates of
-- river_job are skipped by the flow.in_trigger guard). A round only follows a
-- run finishing or a map over [], so ordinary statements run one round.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION flow.on_river_job_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_final   CONSTANT text[] := ARRAY['completed', 'cancelled', 'discarded'];
    v_failed_states CONSTANT text[] := ARRAY['cancelled', 'discarded'];
    v_started bigint[];
    v_ids     bigint[];  -- flow jobs that entered or left a final state, in id order
    v_old     text[];    -- their state before
    v_new     text[];    -- and after
    v_runs    bigint[];  -- their runs
    v_done    bigint[];
    v_undone  bigint[];
    v_failed  bigint[];
    v_child   bigint[];
    v_cdelta  integer[];
    v_ready   bigint[];
    v_special bigint[];  -- released sub-workflow and map nodes
    v_part    bigint[];
    v_part2   bigint[];
    v_queues  text[];
    v_front   bigint[];
    v_below   bigint[];
    v_cascade bigint[];
    v_cruns   bigint[];
    v_notes   text[];
    v_rids    bigint[];
    v_rfinal  integer[];
    v_rfail   integer[];
    v_sjobs   bigint[];  -- special nodes finished at once, and how
    v_sstates text[];
    v_souts   jsonb[];
    v_serrs   text[];
    v_fjobs   bigint[];  -- nodes whose child run finished, and how
    v_fstates text[];
    v_fouts   jsonb[];
    v_fruns   bigint[];
    v_next_ids  bigint[];
    v_next_runs bigint[];
    v_next_new  text[];
    v_cancelling bigint[] := string_to_array(nullif(current_setting('flow.cancelling', true), ''), ',')::bigint[];
    v_delta   integer;
BEGIN
    IF current_setting('flow.in_trigger', true) = 'on' THEN
        RETURN NULL;
    END IF;

    SELECT array_agg(DISTINCT (n.metadata ->> 'flow_run')::bigint)
      INTO v_started
      FROM new_jobs n
     WHERE n.state = 'running' AND n.metadata ? 'flow_run';
    IF v_started IS NOT NULL THEN
        UPDATE flow.run SET state = 'running', started_at = now()
         WHERE id = ANY (v_started) AND state = 'pending';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM new_jobs WHERE state::text = ANY (v_final))
       AND NOT EXISTS (SELECT 1 FROM old_jobs WHERE state::text = ANY (v_final)) THEN
        RETURN NULL;
    END IF;

    SELECT array_agg(u.id ORDER BY u.id), array_agg(u.os ORDER BY u.id), array_agg(u.ns ORDER BY u.id)
      INTO v_ids, v_old, v_new
      FROM (SELECT x.id, max(x.os) AS os, max(x.ns) AS ns
              FROM (SELECT id, NULL::text AS os, state::text AS ns FROM new_jobs WHERE metadata ? 'flow_run'
                    UNION ALL
                    SELECT id, state::text, NULL FROM old_jobs WHERE metadata ? 'flow_run') x
             GROUP BY x.id) u
     WHERE u.os IS DISTINCT FROM u.ns
       AND (u.os = ANY (v_final) OR u.ns = ANY (v_final));
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;

    WITH n AS MATERIALIZED (
        SELECT job_id, run_id FROM flow.node WHERE job_id = ANY (v_ids)
    )
    SELECT array_agg(t.id ORDER BY t.id), array_agg(n.run_id ORDER BY t.id),
           array_agg(t.os ORDER BY t.id), array_agg(t.ns ORDER BY t.id)
      INTO v_ids, v_runs, v_old, v_new
      FROM n
      JOIN unnest(v_ids, v_old, v_new) AS t(id, os, ns) ON t.id = n.job_id;
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;

    PERFORM set_config('flow.in_trigger', 'on', true);

    LOOP
        v_ready := '{}';
        v_special := '{}';
        v_child := NULL;
        v_rids := NULL;
        v_notes := '{}';
        v_next_ids := '{}';
        v_next_runs := '{}';
        v_next_new := '{}';

        SELECT array_agg(t.id) FILTER (WHERE t.ns = 'completed'),
               array_agg(t.id) FILTER (WHERE t.os = 'completed'),
               array_agg(t.id) FILTER (WHERE t.ns = ANY (v_failed_states) AND NOT (t.os = ANY (v_failed_states)))
          INTO v_done, v_undone, v_failed
          FROM unnest(v_ids, v_old, v_new) AS t(id, os, ns);

        -- 1. Children: per child, minus the parents that entered completed,
        --    plus those that left it.
        IF v_done IS NOT NULL OR v_undone IS NOT NULL THEN
            SELECT array_agg(s.child ORDER BY s.child), array_agg(s.d ORDER BY s.child)
              INTO v_child, v_cdelta
              FROM (SELECT c.child, sum(c.d)::integer AS d
                      FROM (SELECT ch AS child, -1 AS d
                              FROM flow.node p CROSS JOIN LATERAL unnest(p.children) AS ch
                             WHERE p.job_id = ANY (v_done)
                            UNION ALL
                            SELECT ch, 1
                              FROM flow.node p CROSS JOIN LATERAL unnest(p.children) AS ch
                             WHERE p.job_id = ANY (v_undone)) c
                     GROUP BY c.child) s
             WHERE s.d <> 0;
        END IF;

        IF v_child IS NOT NULL THEN
            PERFORM 1 FROM flow.node WHERE job_id = ANY (v_child) ORDER BY job_id FOR NO KEY UPDATE;

            FOR v_delta IN SELECT DISTINCT d FROM unnest(v_cdelta) AS d LOOP
                WITH upd AS (
                    UPDATE flow.node n
                       SET waiting = n.waiting + v_delta
                     WHERE n.job_id = ANY (ARRAY(SELECT t.c FROM unnest(v_child, v_cdelta) AS t(c, d) WHERE t.d = v_delta))
                    RETURNING n.job_id, n.waiting, n.mode
                )
                SELECT array_agg(job_id) FILTER (WHERE mode IS NULL), array_agg(job_id) FILTER (WHERE mode IS NOT NULL)
                  INTO v_part, v_part2
                  FROM upd WHERE waiting = 0;
                v_ready := v_ready || coalesce(v_part, '{}');
                v_special := v_special || coalesce(v_part2, '{}');
            END LOOP;

            -- 2. Release every pending task whose parents have all completed.
            IF v_ready <> '{}' THEN
                WITH rel AS (
                    UPDATE public.river_job j
                       SET state = CASE WHEN j.scheduled_at > now() THEN 'scheduled'::public.river_job_state
                                        ELSE 'available'::public.river_job_state END
                     WHERE j.id = ANY (v_ready) AND j.state::text = 'pending'
                    RETURNING j.queue, j.state
                )
                SELECT array_agg(DISTINCT queue) INTO v_queues FROM rel WHERE state = 'available';
                IF v_queues IS NOT NULL THEN
                    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
                       FROM unnest(v_queues) AS q;
                END IF;
            END IF;

            -- 2b. Start released sub-workflow and map nodes; those finished
            --     at once (a map over [], a node that cannot start) are the
            --     next round's changes.
            IF v_special <> '{}' THEN
                SELECT array_agg(o.job_id), array_agg(o.state), array_agg(o.output), array_agg(o.error)
                  INTO v_sjobs, v_sstates, v_souts, v_serrs
                  FROM flow.start_special(v_special) o;
                IF v_sjobs IS NOT NULL THEN
                    SELECT v_next_ids || coalesce(array_agg(f.job_id), '{}'), v_next_runs || coalesce(array_agg(f.run_id), '{}'),
                           v_next_new || coalesce(array_agg(f.state), '{}')
                      INTO v_next_ids, v_next_runs, v_next_new
                      FROM flow.finish_special(v_sjobs, v_sstates, v_souts, v_serrs) f;
                END IF;
            END IF;
        END IF;

        -- 3. Failure: cancel every pending node below a cancelled or
        --    discarded one (nodes waiting for a child run have no unfinished
        --    parent, so they are never below one).
        IF v_failed IS NOT NULL THEN
            v_front := v_failed;
            v_below := '{}';
            LOOP
                SELECT array_agg(DISTINCT ch) INTO v_front
                  FROM flow.node p CROSS JOIN LATERAL unnest(p.children) AS ch
                 WHERE p.job_id = ANY (v_front);
                EXIT WHEN v_front IS NULL;
                v_below := v_below || v_front;
            END LOOP;
            SELECT coalesce(array_agg(DISTINCT b), '{}') INTO v_below FROM unnest(v_below) AS b;

            IF v_below <> '{}' THEN
                PERFORM 1 FROM public.river_job WHERE id = ANY (v_below) AND state::text = 'pending' ORDER BY id FOR UPDATE;
                WITH c AS (
                    UPDATE public.river_job j
                       SET state = 'cancelled',
                           finalized_at = now(),
                           errors = array_append(j.errors, jsonb_build_object(
                               'at', now(), 'attempt', j.attempt, 'trace', '',
                               'error', 'htdag: cancelled because an upstream node failed'))
                     WHERE j.id = ANY (v_below) AND j.state::text = 'pending'
                    RETURNING j.id, (j.metadata ->> 'flow_run')::bigint AS run_id
                )
                SELECT array_agg(c.id), array_agg(c.run_id)
                  INTO v_cascade, v_cruns
                  FROM c;

                IF v_cascade IS NOT NULL THEN
                    v_ids  := v_ids || v_cascade;
                    v_runs := v_runs || v_cruns;
                    v_old  := v_old || array_fill('pending'::text, ARRAY[cardinality(v_cascade)]);
                    v_new  := v_new || array_fill('cancelled'::text, ARRAY[cardinality(v_cascade)]);
                END IF;
            END IF;
        END IF;

        -- 4. Runs: lock in id order, apply the counts in one statement;
        --    finish a run whose unfinished count reaches zero.
        SELECT array_agg(s.run_id ORDER BY s.run_id), array_agg(s.dfinal ORDER BY s.run_id), array_agg(s.dfail ORDER BY s.run_id)
          INTO v_rids, v_rfinal, v_rfail
          FROM (SELECT t.run_id,
                       sum((t.os = ANY (v_final))::int - (t.ns = ANY (v_final))::int)::int AS dfinal,
                       sum((t.ns = ANY (v_failed_states))::int - (t.os = ANY (v_failed_states))::int)::int AS dfail
                  FROM unnest(v_runs, v_old, v_new) AS t(run_id, os, ns)
                 GROUP BY t.run_id) s
         WHERE s.dfinal <> 0 OR s.dfail <> 0;

        v_fjobs := NULL;
        IF v_rids IS NOT NULL THEN
            PERFORM 1 FROM flow.run WHERE id = ANY (v_rids) ORDER BY id FOR NO KEY UPDATE;
            WITH upd AS (
                UPDATE flow.run r
                   SET unfinished  = r.unfinished + d.dfinal,
                       failed      = r.failed + d.dfail,
                       state       = CASE
                                         WHEN r.unfinished + d.dfinal > 0 THEN 'running'
                                         WHEN r.cancelled_at IS NOT NULL OR r.id = ANY (v_cancelling) THEN 'cancelled'
                                         WHEN r.failed + d.dfail > 0 THEN 'failed'
                                         ELSE 'completed'
                                     END,
                       started_at  = coalesce(r.started_at, now()),
                       cancelled_at = coalesce(r.cancelled_at, CASE WHEN r.id = ANY (v_cancelling) THEN now() END),
                       finished_at = CASE WHEN r.unfinished + d.dfinal > 0 THEN NULL ELSE coalesce(r.finished_at, now()) END,
                       output      = CASE WHEN r.unfinished + d.dfinal > 0 THEN NULL
                                          ELSE flow.run_output(r.id, r.is_map, r.output_node) END
                  FROM unnest(v_rids, v_rfinal, v_rfail) AS d(run_id, dfinal, dfail)
                 WHERE r.id = d.run_id
                RETURNING r.id, r.state, r.unfinished, d.dfinal, r.parent_job_id, r.output
            )
            SELECT coalesce(array_agg(json_build_object('run_id', id, 'state', state)::text), '{}'),
                   array_agg(parent_job_id ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(state ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(output ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(id ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL)
              INTO v_notes, v_fjobs, v_fstates, v_fouts, v_fruns
              FROM upd
             WHERE unfinished = 0 AND dfinal < 0;
        END IF;
        -- A finished run is announced on flow_run_finished: {"run_id": N, "state": "..."}.
        PERFORM pg_notify('flow_run_finished', p) FROM unnest(v_notes) AS p;

        -- 5. Nodes whose child run finished: completed with its output, or
        --    discarded / cancelled with an error naming where it failed.
        IF v_fjobs IS NOT NULL THEN
            WITH fin AS (
                UPDATE public.river_job j
                   SET state = CASE f.state WHEN 'completed' THEN 'completed'::public.river_job_state
                                            WHEN 'failed' THEN 'discarded'::public.river_job_state
                                            ELSE 'cancelled'::public.river_job_state END,
                       finalized_at = now(),
                       metadata = CASE WHEN f.state = 'completed' THEN j.metadata || jsonb_build_object('output', f.output)
                                       ELSE j.metadata END,
                       errors = CASE WHEN f.state = 'completed' THEN j.errors
                                     ELSE array_append(j.errors, jsonb_build_object(
                                              'at', now(), 'attempt', j.attempt, 'trace', '',
                                              'error', flow.sub_run_error(f.run_id, f.state))) END
                  FROM unnest(v_fjobs, v_fstates, v_fouts, v_fruns) AS f(job_id, state, output, run_id)
                 WHERE j.id = f.job_id AND j.state::text = 'pending'
                RETURNING j.id, (j.metadata ->> 'flow_run')::bigint AS run_id, j.state::text AS state
            )
            SELECT v_next_ids || coalesce(array_agg(id), '{}'), v_next_runs || coalesce(array_agg(run_id), '{}'),
                   v_next_new || coalesce(array_agg(state), '{}')
              INTO v_next_ids, v_next_runs, v_next_new
              FROM fin;
        END IF;

        EXIT WHEN v_next_ids = '{}';
        SELECT array_agg(t.id ORDER BY t.id), array_agg(t.run_id ORDER BY t.id), array_agg(t.ns ORDER BY t.id)
          INTO v_ids, v_runs, v_new
          FROM unnest(v_next_ids, v_next_runs, v_next_new) AS t(id, run_id, ns);
        v_old := array_fill('pending'::text, ARRAY[cardinality(v_ids)]);
    END LOOP;

    PERFORM set_config('flow.in_trigger', 'off', true);
    RETURN NULL;
END;
$$;

-- ---------------------------------------------------------------------------
-- Control plane over trees.
-- ---------------------------------------------------------------------------

-- flow.cancel now cancels the run's whole tree: every unfinished run below
-- it, by the same rules (see 0005). Nodes waiting for a child run are
-- cancelled with the rest; their child runs finish 'cancelled' too.
CREATE OR REPLACE FUNCTION flow.cancel(p_run_id bigint) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state  text;
    v_runs   bigint[];
    v_all    bigint[] := '{}';
    v_ids    bigint[];
    v_queues text[];
BEGIN
    SELECT state INTO v_state FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_state IN ('completed', 'failed', 'cancelled') THEN
        RAISE NOTICE 'htdag: run % is already %; nothing to cancel', p_run_id, v_state;
        RETURN false;
    END IF;

    -- Rounds: a node that was expanding when this started commits its child
    -- run after our first look at the tree (we wait for its lock below); each
    -- statement sees what committed before it, so the next round finds that
    -- run. Nodes still running are told to stop, and an expansion refuses a
    -- node being cancelled, so no run appears after the last round.
    LOOP
        WITH RECURSIVE t AS (
            SELECT id FROM flow.run WHERE id = p_run_id
            UNION ALL
            SELECT c.id FROM flow.run c JOIN t ON c.parent_run_id = t.id
        )
        SELECT array_agg(t.id ORDER BY t.id) INTO v_runs
          FROM t JOIN flow.run r ON r.id = t.id
         WHERE r.state IN ('pending', 'running') AND NOT t.id = ANY (v_all);
        EXIT WHEN v_runs IS NULL;
        v_all := v_all || v_runs;

        -- The release trigger finishes runs listed here as 'cancelled'.
        PERFORM set_config('flow.cancelling',
                           concat_ws(',', nullif(current_setting('flow.cancelling', true), ''), array_to_string(v_runs, ',')), true);

        -- Running nodes: River's cancel (metadata + public.river_control
        -- signal), locked in id order first.
        PERFORM 1
           FROM public.river_job j
          WHERE j.id IN (SELECT job_id FROM flow.node WHERE run_id = ANY (v_runs)) AND j.state = 'running'
          ORDER BY j.id
            FOR UPDATE OF j;
        WITH running AS (
            UPDATE public.river_job j
               SET metadata = jsonb_set(j.metadata, '{cancel_attempted_at}', to_jsonb(now()), true)
              FROM flow.node n
             WHERE n.run_id = ANY (v_runs) AND j.id = n.job_id AND j.state = 'running'
            RETURNING j.id, j.queue
        )
        SELECT array_agg(id), array_agg(queue) INTO v_ids, v_queues FROM running;
        PERFORM pg_notify('public.river_control',
                          json_build_object('action', 'cancel', 'job_id', r.id, 'queue', r.queue)::text)
           FROM unnest(v_ids, v_queues) AS r(id, queue);

        UPDATE public.river_job j
           SET state = 'cancelled',
               finalized_at = now(),
               errors = array_append(j.errors, jsonb_build_object(
                   'at', now(), 'attempt', j.attempt, 'trace', '',
                   'error', format('htdag: run %s was cancelled', p_run_id)))
          FROM flow.node n
         WHERE n.run_id = ANY (v_runs)
           AND j.id = n.job_id
           AND j.state IN ('pending', 'available', 'scheduled', 'retryable');

        UPDATE flow.run SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = ANY (v_runs);
    END LOOP;
    RETURN true;
END;
$$;

-- Retries one run of a tree and, first, the failed child runs of its failed
-- nodes (recursively). Returns how many nodes it reset at every level.
CREATE FUNCTION flow.retry_run(p_run_id bigint) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state   text;
    v_reset   integer := 0;
    v_n       integer;
    v_c       record;
    v_queues  text[];
    v_special bigint[];
    v_sjobs   bigint[];
    v_sstates text[];
    v_souts   jsonb[];
    v_serrs   text[];
BEGIN
    SELECT state INTO v_state FROM flow.run WHERE id = p_run_id;
    IF v_state IN ('failed', 'cancelled') THEN
        -- Jobs first (id order), the run last: the release trigger's order.
        -- A concurrent retry waits here, then finds the run running.
        PERFORM 1 FROM public.river_job
          WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = p_run_id)
          ORDER BY id FOR UPDATE;
        SELECT state INTO v_state FROM flow.run WHERE id = p_run_id FOR UPDATE;
    END IF;
    IF v_state NOT IN ('failed', 'cancelled') THEN
        RAISE NOTICE 'htdag: run % is %; nothing to retry (retry resumes a failed or cancelled run)', p_run_id, v_state;
        RETURN 0;
    END IF;
    IF EXISTS (SELECT 1 FROM flow.node n
                WHERE n.run_id = p_run_id
                  AND NOT EXISTS (SELECT 1 FROM public.river_job j WHERE j.id = n.job_id)) THEN
        RAISE EXCEPTION 'htdag: run % cannot be retried: River''s cleaner has deleted some of its jobs', p_run_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    -- Failed nodes that waited for a child run: resume that child run (its
    -- completed parts are kept, as here). A child run still stopping after a
    -- cancel must finish first.
    FOR v_c IN SELECT c.id, c.state
                 FROM flow.node n
                 JOIN public.river_job j ON j.id = n.job_id
                 JOIN flow.run c ON c.parent_job_id = n.job_id
                WHERE n.run_id = p_run_id AND j.state IN ('discarded', 'cancelled')
                ORDER BY c.id LOOP
        IF v_c.state IN ('pending', 'running') THEN
            RAISE EXCEPTION 'htdag: run % cannot be retried yet: its child run % is still stopping; retry once it has finished', p_run_id, v_c.id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        ELSIF v_c.state IN ('failed', 'cancelled') THEN
            v_reset := v_reset + flow.retry_run(v_c.id);
        END IF;
    END LOOP;

    -- This function keeps this run's counts itself (see 0006).
    PERFORM set_config('flow.in_trigger', 'on', true);

    UPDATE public.river_job j
       SET state = 'pending',
           finalized_at = NULL,
           scheduled_at = now(),
           attempt = CASE WHEN j.state = 'discarded' THEN 0 ELSE j.attempt END,
           metadata = j.metadata - 'cancel_attempted_at'
      FROM flow.node n
     WHERE n.run_id = p_run_id AND j.id = n.job_id
       AND j.state IN ('discarded', 'cancelled');
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_reset := v_reset + v_n;

    UPDATE flow.node n
       SET waiting = w.waiting
      FROM (SELECT c.job_id, count(pj.id) FILTER (WHERE pj.state <> 'completed')::integer AS waiting
              FROM flow.node c
              LEFT JOIN public.river_job pj ON pj.id = ANY (c.parents)
             WHERE c.run_id = p_run_id
             GROUP BY c.job_id) w
     WHERE n.job_id = w.job_id AND n.waiting <> w.waiting;

    -- Ready tasks run again; ready nodes with a child run keep waiting for it.
    WITH rel AS (
        UPDATE public.river_job j
           SET state = 'available'
          FROM flow.node n
         WHERE n.run_id = p_run_id AND j.id = n.job_id AND n.waiting = 0 AND j.state = 'pending'
           AND n.mode IS NULL
           AND NOT EXISTS (SELECT 1 FROM flow.run c WHERE c.parent_job_id = n.job_id)
        RETURNING j.queue
    )
    SELECT array_agg(DISTINCT queue) INTO v_queues FROM rel;
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
       FROM unnest(v_queues) AS q;

    UPDATE flow.run r
       SET state = 'running',
           unfinished = c.unfinished,
           failed = c.failed,
           started_at = coalesce(r.started_at, now()),
           finished_at = NULL,
           cancelled_at = NULL,
           output = NULL
      FROM (SELECT count(*) FILTER (WHERE j.state NOT IN ('completed', 'cancelled', 'discarded'))::integer AS unfinished,
                   count(*) FILTER (WHERE j.state IN ('cancelled', 'discarded'))::integer AS failed
              FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
             WHERE n.run_id = p_run_id) c
     WHERE r.id = p_run_id;

    PERFORM set_config('flow.in_trigger', 'off', true);

    -- From here the release trigger does the accounting. Ready sub-workflow
    -- and map nodes that never started start now; nodes whose child run
    -- completed (after they were cancelled) take its output.
    SELECT array_agg(n.job_id ORDER BY n.job_id) INTO v_special
      FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
     WHERE n.run_id = p_run_id AND n.waiting = 0 AND j.state = 'pending' AND n.mode IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM flow.run c WHERE c.parent_job_id = n.job_id);
    IF v_special IS NOT NULL THEN
        SELECT array_agg(o.job_id), array_agg(o.state), array_agg(o.output), array_agg(o.error)
          INTO v_sjobs, v_sstates, v_souts, v_serrs
          FROM flow.start_special(v_special) o;
        IF v_sjobs IS NOT NULL THEN
            PERFORM flow.finish_special(v_sjobs, v_sstates, v_souts, v_serrs);
        END IF;
    END IF;

    UPDATE public.river_job j
       SET state = 'completed',
           finalized_at = now(),
           metadata = j.metadata || jsonb_build_object('output', c.output)
      FROM flow.node n
      JOIN flow.run c ON c.parent_job_id = n.job_id
     WHERE n.run_id = p_run_id AND j.id = n.job_id AND j.state = 'pending' AND c.state = 'completed';

    RETURN v_reset;
END;
$$;
COMMENT ON FUNCTION flow.retry_run(bigint) IS 'Internal: retries one run of a tree, its failed child runs first.';

-- flow.retry resumes a top run's whole tree: at every level, failed and
-- cancelled nodes are reset, completed ones kept (see 0006). A child run is
-- retried through its top run, so that the nodes waiting for it wait again.
CREATE OR REPLACE FUNCTION flow.retry(p_run_id bigint) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run flow.run%ROWTYPE;
BEGIN
    SELECT * INTO v_run FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_run.parent_run_id IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: run % is a child run (of node % of run %); retry its top run %',
                        p_run_id, to_json((SELECT node_id FROM flow.node WHERE job_id = v_run.parent_job_id)),
                        v_run.parent_run_id, v_run.root_run_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN flow.retry_run(p_run_id);
END;
$$;
COMMENT ON FUNCTION flow.retry(bigint) IS 'Resumes a failed or cancelled top run and its whole tree: resets failed and cancelled nodes at every level (fresh attempts for discarded ones), keeps completed ones. 0, with a NOTICE, for a run that is not failed or cancelled.';

-- Guards: a node waiting for a child run, and a sub-workflow or map node,
-- are never made runnable by hand (River has no worker for them; the child
-- run is what runs). flow.retry resumes them.
CREATE OR REPLACE FUNCTION flow.guard_runnable() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_node flow.node%ROWTYPE;
    v_child bigint;
BEGIN
    SELECT * INTO v_node FROM flow.node WHERE job_id = NEW.id;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    IF v_node.waiting > 0 THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: % of its parents have not completed',
                        v_node.node_id, v_node.run_id, NEW.state, v_node.waiting
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'retry or complete its failed parents first; see flow.nodes for their states';
    END IF;
    SELECT id INTO v_child FROM flow.run WHERE parent_job_id = NEW.id;
    IF v_node.mode IS NOT NULL OR v_child IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: it runs as a child run%, not as a job',
                        v_node.node_id, v_node.run_id, NEW.state, coalesce(' (run ' || v_child || ')', '')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'use flow.retry on the top run';
    END IF;
    RETURN NEW;
END;
$$;

-- A node waiting for a child run is finished by the release trigger when
-- that run finishes, or cancelled with its whole run by flow.cancel. Anything
-- else (River's JobCancel, an UPDATE in psql) would leave the child run
-- running under a finished node, so it is refused.
CREATE FUNCTION flow.guard_parked() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_child flow.run%ROWTYPE;
BEGIN
    SELECT * INTO v_child FROM flow.run WHERE parent_job_id = NEW.id;
    IF FOUND AND v_child.state IN ('pending', 'running')
       AND ((NEW.metadata ->> 'flow_run') = ANY (string_to_array(current_setting('flow.cancelling', true), ','))) IS NOT TRUE THEN
        RAISE EXCEPTION 'htdag: node "%" of run % waits for its child run %, which is %; it finishes when that run does',
                        NEW.metadata ->> 'flow_node', NEW.metadata ->> 'flow_run', v_child.id, v_child.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'cancel the run with flow.cancel, or the child run';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION flow.guard_parked() IS 'Refuses to finish by hand a node that waits for a running child run.';

CREATE TRIGGER flow_guard_parked
    BEFORE UPDATE OF state ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state = 'pending' AND NEW.state IN ('completed', 'cancelled', 'discarded')
          AND NEW.metadata ? 'flow_run'
          AND current_setting('flow.in_trigger', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.guard_parked();
COMMENT ON TRIGGER flow_guard_parked ON public.river_job IS 'htdag: refuses to finish by hand a node that waits for a running child run.';

-- flow.check knows about nodes waiting for child runs.
CREATE OR REPLACE FUNCTION flow.check(p_run_id bigint DEFAULT NULL)
RETURNS TABLE (run_id bigint, node_id text, problem text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH runs AS (
        -- Two branches, each through an index (a CASE here read every run).
        SELECT r.* FROM flow.run r WHERE r.id = p_run_id
        UNION ALL
        SELECT r.* FROM flow.run r WHERE p_run_id IS NULL AND r.state IN ('pending', 'running')
    ), nodes AS (
        SELECT n.run_id, n.node_id, n.job_id, n.waiting, n.parents, n.mode, j.state::text AS state,
               c.id AS child_id, c.state AS child_state,
               (SELECT count(*) FROM public.river_job pj
                 WHERE pj.id = ANY (n.parents) AND pj.state <> 'completed')::integer AS parents_unfinished
          FROM flow.node n
          JOIN runs ON runs.id = n.run_id
          LEFT JOIN public.river_job j ON j.id = n.job_id
          LEFT JOIN flow.run c ON c.parent_job_id = n.job_id
    ), counts AS (
        SELECT runs.id,
               count(*) FILTER (WHERE nodes.state IS NULL OR nodes.state NOT IN ('completed', 'cancelled', 'discarded'))::integer AS unfinished,
               count(*) FILTER (WHERE nodes.state IN ('cancelled', 'discarded'))::integer AS failed,
               count(*) FILTER (WHERE nodes.state IN ('available', 'scheduled', 'running', 'retryable')
                                   OR (nodes.state = 'pending' AND nodes.child_state IN ('pending', 'running')))::integer AS runnable,
               bool_or(nodes.state IS NULL) AS deleted
          FROM runs JOIN nodes ON nodes.run_id = runs.id
         GROUP BY runs.id
    )
    SELECT r.id, NULL::text,
           format('unfinished is %s but %s nodes are not finished', r.unfinished, c.unfinished)
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.unfinished <> c.unfinished AND NOT c.deleted
    UNION ALL
    SELECT r.id, NULL, format('failed is %s but %s nodes are cancelled or discarded', r.failed, c.failed)
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.failed <> c.failed AND NOT c.deleted
    UNION ALL
    SELECT r.id, NULL, format('run is %s but none of its nodes can run (stuck)', r.state)
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.runnable = 0
    UNION ALL
    SELECT r.id, NULL, 'some of its jobs were deleted while the run is unfinished'
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.deleted
    UNION ALL
    SELECT n.run_id, n.node_id, format('waiting is %s but %s parents have not completed', n.waiting, n.parents_unfinished)
      FROM nodes n
     WHERE n.state IS NOT NULL AND n.waiting <> n.parents_unfinished
    UNION ALL
    SELECT n.run_id, n.node_id,
           CASE WHEN n.mode IS NULL THEN 'pending although all its parents completed (a lost release)'
                ELSE format('a %s node whose parents completed, but its child run never started', n.mode) END
      FROM nodes n
     WHERE n.state = 'pending' AND n.parents_unfinished = 0 AND n.child_id IS NULL
    UNION ALL
    SELECT n.run_id, n.node_id, format('pending, waiting for its child run %s, which is already %s', n.child_id, n.child_state)
      FROM nodes n
     WHERE n.state = 'pending' AND n.child_state IN ('completed', 'failed', 'cancelled')
    UNION ALL
    SELECT r.id, NULL, format('its node (job %s) is already %s but the run is %s and not being cancelled (an orphaned child run)',
                              r.parent_job_id, pj.state, r.state)
      FROM runs r JOIN public.river_job pj ON pj.id = r.parent_job_id
     WHERE r.state IN ('pending', 'running')
       AND (pj.state IN ('completed', 'discarded') OR (pj.state = 'cancelled' AND r.cancelled_at IS NULL))
    UNION ALL
    SELECT n.run_id, n.node_id, format('%s although %s parents have not completed', n.state, n.parents_unfinished)
      FROM nodes n
     WHERE n.state IN ('available', 'scheduled', 'running', 'retryable') AND n.parents_unfinished > 0;
$$;

-- Retention deletes whole trees: top runs whose every run has finished.
CREATE OR REPLACE FUNCTION flow.delete_finished_runs(p_older_than interval, p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_runs bigint[];
BEGIN
    SELECT array_agg(id) INTO v_runs
      FROM (SELECT r.id FROM flow.run r
             WHERE r.parent_run_id IS NULL
               AND r.state IN ('completed', 'failed', 'cancelled') AND r.finished_at < now() - p_older_than
               AND NOT EXISTS (SELECT 1 FROM flow.run d WHERE d.root_run_id = r.id AND d.state IN ('pending', 'running'))
             ORDER BY r.id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED) s;
    IF v_runs IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('flow.deleting_runs', 'on', true);
    DELETE FROM public.river_job
     WHERE id IN (SELECT n.job_id FROM flow.node n
                   WHERE n.run_id IN (SELECT r.id FROM flow.run r WHERE r.id = ANY (v_runs) OR r.root_run_id = ANY (v_runs)));
    DELETE FROM flow.run WHERE id = ANY (v_runs); -- child runs and flow.node rows go with them (ON DELETE CASCADE)
    PERFORM set_config('flow.deleting_runs', 'off', true);
    RETURN cardinality(v_runs);
END;
$$;

-- ---------------------------------------------------------------------------
-- Inspection.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE VIEW flow.runs AS
SELECT r.id,
       r.name,
       r.state,
       r.node_count AS nodes,
       c.pending,
       c.available,
       c.running,
       c.retryable,
       c.completed,
       c.cancelled,
       c.discarded,
       r.unfinished,
       r.failed,
       r.input,
       r.output,
       r.created_at,
       r.started_at,
       r.finished_at,
       r.finished_at - r.started_at AS duration,
       r.parent_run_id,
       (SELECT pn.node_id FROM flow.node pn WHERE pn.job_id = r.parent_job_id) AS parent_node,
       r.depth,
       coalesce(r.root_run_id, r.id) AS top_run_id
  FROM flow.run r
 CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE j.state = 'pending')                       AS pending,
               count(*) FILTER (WHERE j.state IN ('available', 'scheduled'))     AS available,
               count(*) FILTER (WHERE j.state = 'running')                       AS running,
               count(*) FILTER (WHERE j.state = 'retryable')                     AS retryable,
               count(*) FILTER (WHERE j.state = 'completed')                     AS completed,
               count(*) FILTER (WHERE j.state = 'cancelled')                     AS cancelled,
               count(*) FILTER (WHERE j.state = 'discarded')                     AS discarded
          FROM flow.node n
          JOIN public.river_job j ON j.id = n.job_id
         WHERE n.run_id = r.id
       ) c;
COMMENT ON VIEW flow.runs IS 'One row per run (top and child runs): state, node counts by job state, times, output, and for a child run its parent run, parent node and depth.';

CREATE OR REPLACE VIEW flow.nodes AS
SELECT n.run_id,
       n.node_id,
       n.job_id,
       j.kind,
       coalesce(j.state::text, 'deleted') AS state,
       j.attempt,
       j.max_attempts,
       j.queue,
       ARRAY(SELECT p.node_id FROM flow.node p WHERE p.job_id = ANY (n.parents) ORDER BY p.node_id) AS parents,
       n.waiting,
       j.errors[array_upper(j.errors, 1)] ->> 'error' AS last_error,
       j.args,
       j.metadata -> 'output' AS output,
       j.created_at,
       j.scheduled_at,
       j.attempted_at,
       j.finalized_at,
       (SELECT c.id FROM flow.run c WHERE c.parent_job_id = n.job_id) AS child_run_id
  FROM flow.node n
  LEFT JOIN public.river_job j ON j.id = n.job_id;
COMMENT ON VIEW flow.nodes IS 'One row per node: its River job''s kind, state, attempts, parents (node ids), last error, output, and the child run it runs as (sub-workflow, map or expanded node).';

-- flow.blocked also lists nodes waiting for a child run (waiting_for_run),
-- roots included.
CREATE OR REPLACE VIEW flow.blocked AS
SELECT n.run_id,
       n.node_id,
       n.job_id,
       n.waiting,
       array_agg(p.node_id ORDER BY p.node_id) FILTER (WHERE p.job_id IS NOT NULL AND pj.state IS DISTINCT FROM 'completed') AS waiting_on,
       jsonb_object_agg(p.node_id, coalesce(pj.state::text, 'deleted'))
           FILTER (WHERE p.job_id IS NOT NULL AND pj.state IS DISTINCT FROM 'completed') AS parent_states,
       (SELECT c.id FROM flow.run c WHERE c.parent_job_id = n.job_id) AS waiting_for_run
  FROM flow.node n
  JOIN flow.run r ON r.id = n.run_id AND r.state IN ('pending', 'running')
  JOIN public.river_job j ON j.id = n.job_id AND j.state = 'pending'
  LEFT JOIN flow.node p ON p.job_id = ANY (n.parents)
  LEFT JOIN public.river_job pj ON pj.id = p.job_id
 GROUP BY n.run_id, n.node_id, n.job_id, n.waiting;
COMMENT ON VIEW flow.blocked IS 'Pending nodes of unfinished runs: the parents each still waits on and their states, or the child run it waits for.';

-- A whole tree in one query: one row per node of the run and of every run
-- below it, in depth-first order (a node's child run follows the node).
-- path is the node's place from the top: "sub/m/7" is node "7" of the child
-- run of node "m" of the child run of node "sub".
CREATE FUNCTION flow.tree(p_run_id bigint)
RETURNS TABLE (run_id bigint, depth integer, run_state text, path text, node_id text, job_id bigint, kind text,
               state text, attempt smallint, child_run_id bigint, last_error text, output jsonb)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Row estimates for recursive queries are guesses, and large ones bought a
-- JIT compile longer than the query; every step here is an index lookup.
SET jit = off
SET enable_seqscan = off
SET enable_hashjoin = off
AS $$
    WITH RECURSIVE runs AS (
        SELECT r.id, r.depth, r.state, ARRAY[]::bigint[] AS sort_key, ''::text AS prefix
          FROM flow.run r WHERE r.id = p_run_id
        UNION ALL
        SELECT c.id, c.depth, c.state, runs.sort_key || c.parent_job_id, runs.prefix || pn.node_id || '/'
          FROM runs
          JOIN flow.run c ON c.parent_run_id = runs.id
          JOIN flow.node pn ON pn.job_id = c.parent_job_id
    )
    SELECT runs.id, runs.depth, runs.state, runs.prefix || n.node_id, n.node_id, n.job_id, j.kind,
           coalesce(j.state::text, 'deleted'), j.attempt, ch.id,
           j.errors[array_upper(j.errors, 1)] ->> 'error', j.metadata -> 'output'
      FROM runs
      JOIN flow.node n ON n.run_id = runs.id
      LEFT JOIN public.river_job j ON j.id = n.job_id
      LEFT JOIN flow.run ch ON ch.parent_job_id = n.job_id
     ORDER BY runs.sort_key || n.job_id;
$$;
COMMENT ON FUNCTION flow.tree(bigint) IS 'Every node of a run and of all runs below it, depth first, with its path from the top, state, child run and last error.';

-- Nothing new is callable by everyone (see 0008); readers may read trees.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flow FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flow.tree(bigint) TO flow_reader;
