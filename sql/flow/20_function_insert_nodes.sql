-- Inserting runs.

-- Inserts the jobs and flow.node rows of run p_run_id from a checked spec
-- (ids and edges from flow.spec_check_at) and wakes the workers of the
-- queues that got runnable roots. Sub-workflow and map nodes get job kinds
-- 'flow.workflow' / 'flow.map' and stay pending: they are started by
-- flow.start_node, not worked by River. Returns the job ids of sub-workflow
-- nodes without parents, which the caller starts at once. Wait nodes get
-- kind 'flow.wait', their "wait" as args and one attempt; those without
-- parents are parked at once (flow.park_waits). A node spec may
-- carry "item" (set only by map runs, never accepted from users): it goes to
-- the job's metadata as flow_item, read by flow.node_inputs.
--
-- Every job gets River tags naming its run and node, "flow_run:N" and
-- "flow_node:ID" (and "flow_tree:N", its top run, in a child run), so River
-- UI and River's JobList (TagsAny) can show one run's or one tree's jobs.
-- They are written here, not through River's insert, whose tag pattern
-- allows no ':'; nothing in River checks tags after an insert.
--
-- A task node (not a wait node) with a "concurrency" (its own, else the spec's) gets its key
-- (flow.concurrency_key) and limit; a root with one is inserted pending and
-- queued for a slot at commit (flow.concurrency_admit_at_commit). A map of tasks carries it in
-- its args for its elements (flow.start_node).
CREATE OR REPLACE FUNCTION flow.insert_nodes(p_run_id bigint, p_spec jsonb, p_ids text[], p_ep integer[], p_ec integer[])
RETURNS bigint[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_tree   text;
    v_jobs   bigint[];
    v_order  text[];
    v_queues text[];
    v_navail bigint;
    v_roots  bigint[];
    v_waits  bigint[];
    v_kroots bigint[];
    v_special bigint[];
    v_input  jsonb;
BEGIN
    SELECT 'flow_tree:' || r.root_run_id INTO v_tree FROM flow.run r WHERE r.id = p_run_id;
    -- The run's input, for concurrency keys that are JSON paths (only then:
    -- a child run's is read through its node). A map's elements read the
    -- input of the map node's run, as the map node's own key would.
    IF (p_spec ? 'concurrency' AND left(p_spec -> 'concurrency' ->> 'key', 1) = '$')
       OR jsonb_path_exists(p_spec, '$.nodes[*].concurrency.key ? (@ starts with "$")') THEN
        SELECT CASE WHEN r.is_map THEN flow.run_input(r.id) -> 'input'
                    WHEN r.input_from_parent THEN flow.run_input(r.id)
                    ELSE r.input END
          INTO v_input FROM flow.run r WHERE r.id = p_run_id;
    END IF;
    -- Rows go in in spec order, so ascending job ids follow the spec (checked below).
    WITH ins AS (
        INSERT INTO public.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags)
        SELECT CASE WHEN x.e ? 'map' THEN jsonb_strip_nulls(jsonb_build_object(
                                              'over', x.e -> 'map', 'kind', x.e -> 'kind',
                                              'args', x.e -> 'args', 'workflow', x.e -> 'workflow',
                                              'concurrency', CASE WHEN NOT x.e ? 'workflow' THEN x.conc END))
                    WHEN x.e ? 'workflow' THEN x.e -> 'workflow'
                    WHEN x.e ? 'wait' THEN x.e -> 'wait'
                    ELSE coalesce(x.e -> 'args', '{}'::jsonb) END,
               CASE WHEN x.e ? 'map' THEN 'flow.map' WHEN x.e ? 'workflow' THEN 'flow.workflow'
                    WHEN x.e ? 'wait' THEN 'flow.wait' ELSE x.e ->> 'kind' END,
               CASE WHEN x.e ? 'wait' THEN 1 ELSE coalesce((x.e ->> 'max_attempts')::smallint, (p_spec ->> 'max_attempts')::smallint, 25) END,
               jsonb_build_object('flow_run', p_run_id, 'flow_node', x.e ->> 'id')
                   || CASE WHEN x.e ? 'timeout_ms' THEN jsonb_build_object('flow_timeout_ms', (x.e ->> 'timeout_ms')::bigint)
                           ELSE '{}'::jsonb END
                   || CASE WHEN x.e ? 'item' THEN jsonb_build_object('flow_item', x.e -> 'item') ELSE '{}'::jsonb END,
               coalesce((x.e ->> 'priority')::smallint, (p_spec ->> 'priority')::smallint, 1),
               coalesce(x.e ->> 'queue', p_spec ->> 'queue', 'default'),
               CASE WHEN x.has_parents OR x.e ? 'workflow' OR x.e ? 'wait' OR x.conc IS NOT NULL THEN 'pending'::public.river_job_state
                    WHEN x.at > now() THEN 'scheduled'::public.river_job_state
                    ELSE 'available'::public.river_job_state END,
               coalesce(x.at, now()),
               ARRAY['flow_run:' || p_run_id, 'flow_node:' || (x.e ->> 'id')] || CASE WHEN v_tree IS NULL THEN '{}'::text[] ELSE ARRAY[v_tree] END
          FROM (SELECT e, i, coalesce(flow.parse_time(e ->> 'at'), flow.parse_time(p_spec ->> 'at')) AS at,
                       jsonb_array_length(coalesce(e -> 'deps', '[]'::jsonb)) > 0 OR e ? 'map' AS has_parents,
                       CASE WHEN NOT (e ? 'workflow' OR e ? 'wait') THEN coalesce(e -> 'concurrency', p_spec -> 'concurrency') END AS conc
                  FROM jsonb_array_elements(p_spec -> 'nodes') WITH ORDINALITY AS t(e, i)) x
         ORDER BY x.i
        RETURNING id, metadata ->> 'flow_node' AS node_id, state, queue, kind
    )
    SELECT array_agg(id ORDER BY id), array_agg(node_id ORDER BY id),
           array_agg(DISTINCT queue) FILTER (WHERE state = 'available'), count(*) FILTER (WHERE state = 'available')
      INTO v_jobs, v_order, v_queues, v_navail
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
        INSERT INTO flow.node (job_id, run_id, node_id, parents, children, waiting, mode, trigger_rule, condition,
                               concurrency_key, concurrency_limit)
        SELECT n.job_id, p_run_id, n.node_id,
               coalesce(par.ids, '{}'), coalesce(chi.ids, '{}'), coalesce(cardinality(par.ids), 0),
               CASE WHEN x.e ? 'map' THEN 'map' WHEN x.e ? 'workflow' THEN 'workflow' WHEN x.e ? 'wait' THEN 'wait' END,
               nullif(x.e ->> 'trigger', 'all_success'), x.e ->> 'if',
               CASE WHEN x.conc IS NOT NULL
                    THEN flow.concurrency_key(x.conc ->> 'key',
                                              jsonb_build_object('input', v_input, 'args', coalesce(x.e -> 'args', '{}'::jsonb),
                                                                 'item', x.e -> 'item'),
                                              n.node_id) END,
               (x.conc ->> 'limit')::integer
          FROM n
          JOIN (SELECT e, i, CASE WHEN NOT (e ? 'workflow' OR e ? 'map' OR e ? 'wait')
                                  THEN coalesce(e -> 'concurrency', p_spec -> 'concurrency') END AS conc
                  FROM jsonb_array_elements(p_spec -> 'nodes') WITH ORDINALITY AS t(e, i)) x ON x.i = n.i
          LEFT JOIN (SELECT child, array_agg(parent ORDER BY parent) AS ids FROM e GROUP BY child) par ON par.child = n.job_id
          LEFT JOIN (SELECT parent, array_agg(child ORDER BY child) AS ids FROM e GROUP BY parent) chi ON chi.parent = n.job_id
        RETURNING job_id, mode, waiting, concurrency_key
    )
    SELECT array_agg(job_id) FILTER (WHERE waiting = 0 AND (mode IS NOT NULL OR concurrency_key IS NOT NULL))
      INTO v_special
      FROM ins;
    -- Roots that are not plain tasks are rare: one aggregate finds them, and
    -- only then are they told apart (each aggregate costs every start).
    IF v_special IS NOT NULL THEN
        SELECT array_agg(n.job_id ORDER BY n.job_id) FILTER (WHERE n.mode = 'workflow'),
               array_agg(n.job_id ORDER BY n.job_id) FILTER (WHERE n.mode = 'wait'),
               array_agg(n.job_id ORDER BY n.job_id) FILTER (WHERE n.concurrency_key IS NOT NULL)
          INTO v_roots, v_waits, v_kroots
          FROM flow.node n
         WHERE n.job_id = ANY (v_special);
    END IF;
    IF v_waits IS NOT NULL THEN
        PERFORM flow.park_waits(v_waits);
    END IF;

    -- Roots with a concurrency key were inserted pending: they queue for a
    -- slot of their key when the transaction commits, with every other keyed
    -- root it started (17_table_concurrency_commit.sql says why).
    IF v_kroots IS NOT NULL THEN
        INSERT INTO flow.concurrency_commit (xid, roots) VALUES (pg_current_xact_id(), v_kroots);
    END IF;

    -- Wake River's producers for each queue that got runnable roots.
    IF v_queues IS NOT NULL THEN
        PERFORM flow.notify_runnable(v_queues, v_navail);
    END IF;
    RETURN v_roots;
END;
$$;
COMMENT ON FUNCTION flow.insert_nodes(bigint, jsonb, text[], integer[], integer[]) IS 'Internal: inserts a run''s jobs and nodes from a checked spec; returns its root sub-workflow nodes to start.';
