-- htdag core: runs, nodes, the release trigger on river_job and flow.start.
--
-- Every node of a run is one row of River's public.river_job. This migration
-- adds only what River does not have: which jobs belong to which run, the
-- edges between them, and per-node / per-run counters that the trigger keeps
-- current in the same transaction that changes a job's state. A node's state
-- is its job's state; nothing here copies it.
--
-- Invariants (checked by the constraints below and by the tests):
--   flow.node.waiting   = number of the node's parents whose job is not 'completed'
--   flow.run.unfinished = number of the run's nodes not in a final job state
--                         (final: completed, cancelled, discarded)
--   flow.run.failed     = number of the run's nodes that are cancelled or discarded
--   a run is finished (completed/failed/cancelled) exactly when unfinished = 0

CREATE SCHEMA IF NOT EXISTS flow;
COMMENT ON SCHEMA flow IS 'htdag workflow state: runs and nodes of DAGs whose nodes are River jobs (see README)';

CREATE TABLE flow.run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL DEFAULT '',
    state       text        NOT NULL DEFAULT 'pending',
    input       jsonb,
    output      jsonb,
    node_count  integer     NOT NULL,
    unfinished  integer     NOT NULL,
    failed      integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    cancelled_at timestamptz,
    key         text,
    CONSTRAINT run_state_valid CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT run_node_count_positive CHECK (node_count > 0),
    CONSTRAINT run_unfinished_in_range CHECK (unfinished BETWEEN 0 AND node_count),
    CONSTRAINT run_failed_in_range CHECK (failed BETWEEN 0 AND node_count - unfinished),
    CONSTRAINT run_finished_iff_no_unfinished CHECK ((state IN ('completed', 'failed', 'cancelled')) = (unfinished = 0)),
    CONSTRAINT run_finished_at_iff_finished CHECK ((state IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT run_started_at_iff_not_pending CHECK ((state = 'pending') = (started_at IS NULL)),
    CONSTRAINT run_completed_has_no_failure CHECK (state <> 'completed' OR failed = 0),
    CONSTRAINT run_failed_has_failure CHECK (state <> 'failed' OR failed > 0),
    CONSTRAINT run_cancelled_has_cancelled_at CHECK (state <> 'cancelled' OR cancelled_at IS NOT NULL)
) WITH (fillfactor = 50); -- room for HOT updates: counters change on every completion
COMMENT ON TABLE flow.run IS 'One row per run (one execution of a DAG). State is kept current by flow.on_river_job_update in the transactions that change node states.';
COMMENT ON COLUMN flow.run.unfinished IS 'Nodes whose job is not yet completed, cancelled or discarded; the run finishes when this reaches 0.';
COMMENT ON COLUMN flow.run.failed IS 'Nodes whose job ended cancelled or discarded.';
COMMENT ON COLUMN flow.run.cancelled_at IS 'When flow.cancel was called; such a run finishes cancelled once its running nodes have stopped.';
COMMENT ON COLUMN flow.run.output IS 'Set when the run finishes: an object of the completed sink nodes'' outputs, keyed by node id.';

COMMENT ON COLUMN flow.run.key IS 'Optional idempotency key of the start spec: at most one unfinished run has a given key.';
CREATE UNIQUE INDEX run_key_unfinished_idx ON flow.run (key) WHERE state IN ('pending', 'running');

-- Runs still in progress: the hot states, kept small by a partial index.
CREATE INDEX run_active_idx ON flow.run (id) WHERE state IN ('pending', 'running');
CREATE INDEX run_created_at_idx ON flow.run (created_at);

CREATE TABLE flow.node (
    job_id   bigint  PRIMARY KEY,
    run_id   bigint  NOT NULL REFERENCES flow.run (id) ON DELETE CASCADE,
    node_id  text    NOT NULL,
    parents  bigint[] NOT NULL DEFAULT '{}',
    children bigint[] NOT NULL DEFAULT '{}',
    waiting  integer NOT NULL,
    CONSTRAINT node_id_valid CHECK (node_id !~ '[^A-Za-z0-9_.:-]' AND length(node_id) BETWEEN 1 AND 128),
    CONSTRAINT node_waiting_in_range CHECK (waiting BETWEEN 0 AND cardinality(parents)),
    CONSTRAINT node_id_unique_in_run UNIQUE (run_id, node_id)
) WITH (fillfactor = 50); -- room for HOT updates of waiting (measured: 7x cheaper on a 10,000-wide release)
COMMENT ON TABLE flow.node IS 'One row per DAG node; job_id is its public.river_job row (no foreign key: River''s cleaner deletes finished jobs). The node''s state is the job''s state.';
COMMENT ON COLUMN flow.node.parents IS 'Job ids of the nodes this node depends on.';
COMMENT ON COLUMN flow.node.children IS 'Job ids of the nodes that depend on this node (the edges the release trigger follows).';
COMMENT ON COLUMN flow.node.waiting IS 'Number of parents whose job is not completed; the node is released from pending when it reaches 0.';

-- ---------------------------------------------------------------------------
-- The release trigger.
--
-- Statement-level, with transition tables, so that a statement completing many
-- jobs at once (River's batch completer, htdag's grouped completer) does the
-- work once per statement: decrements are summed per child and rows are locked
-- in id order (children, then runs), so concurrent completions that share a
-- child cannot deadlock. Non-flow jobs are filtered out before any lookup.
-- ---------------------------------------------------------------------------
CREATE FUNCTION flow.on_river_job_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off -- transition tables have no statistics; a bad estimate must not buy a JIT compile
-- Plan each statement once per session: re-planning on every call was ~20%
-- of a chain step's CPU, and every lookup is by primary key whatever the
-- arrays hold, so the generic plan is the right one.
SET plan_cache_mode = force_generic_plan
-- A generic plan made while a table was small must not stay a sequential
-- scan once it is large: every table here is reached through an index.
SET enable_seqscan = off
AS $$
-- Every lookup below goes through a primary key with "= ANY (array)", so the
-- work per statement follows the jobs it changed and their own edges, never
-- the size of a run or of the tables.
DECLARE
    v_final   CONSTANT text[] := ARRAY['completed', 'cancelled', 'discarded'];
    v_failed_states CONSTANT text[] := ARRAY['cancelled', 'discarded'];
    v_started bigint[];
    v_ids     bigint[];  -- flow jobs that entered or left a final state, in id order
    v_old     text[];    -- their state before
    v_new     text[];    -- and after
    v_runs    bigint[];  -- their runs
    v_done    bigint[];  -- entered completed
    v_undone  bigint[];  -- left completed
    v_failed  bigint[];  -- entered cancelled or discarded
    v_child   bigint[];
    v_cdelta  integer[];
    v_ready   bigint[] := '{}';
    v_part    bigint[];
    v_queues  text[];
    v_front   bigint[];
    v_below   bigint[];
    v_cascade bigint[];
    v_cruns   bigint[];
    v_notes   text[] := '{}';
    v_rids    bigint[];  -- runs whose counts change, in id order
    v_rfinal  integer[]; -- change to each one's unfinished
    v_rfail   integer[]; -- change to each one's failed
    -- Runs flow.cancel is cancelling in this transaction: they finish
    -- 'cancelled' (flow.cancel sets flow.run.cancelled_at itself only after
    -- cancelling their jobs, to lock jobs before runs like everyone else).
    v_cancelling bigint[] := string_to_array(nullif(current_setting('flow.cancelling', true), ''), ',')::bigint[];
    v_delta   integer;
BEGIN
    -- The trigger's own updates of river_job (releases, cascaded cancels) are
    -- accounted for by the invocation that made them.
    IF current_setting('flow.in_trigger', true) = 'on' THEN
        RETURN NULL;
    END IF;

    -- A fetched node marks its run as started.
    SELECT array_agg(DISTINCT (n.metadata ->> 'flow_run')::bigint)
      INTO v_started
      FROM new_jobs n
     WHERE n.state = 'running' AND n.metadata ? 'flow_run';
    IF v_started IS NOT NULL THEN
        UPDATE flow.run SET state = 'running', started_at = now()
         WHERE id = ANY (v_started) AND state = 'pending';
    END IF;

    -- Fast exit for fetches and everything else that neither enters nor
    -- leaves a final state.
    IF NOT EXISTS (SELECT 1 FROM new_jobs WHERE state::text = ANY (v_final))
       AND NOT EXISTS (SELECT 1 FROM old_jobs WHERE state::text = ANY (v_final)) THEN
        RETURN NULL;
    END IF;

    -- Pair each row's old and new state without joining the transition
    -- tables (they have no index): one grouped pass.
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

    -- Keep only real flow nodes, with their runs. (One index pass over the
    -- ids, then a join in memory: an index probe per row with "= ANY" in its
    -- condition would cost the length of the array every time.)
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

    SELECT array_agg(t.id) FILTER (WHERE t.ns = 'completed'),
           array_agg(t.id) FILTER (WHERE t.os = 'completed'),
           array_agg(t.id) FILTER (WHERE t.ns = ANY (v_failed_states) AND NOT (t.os = ANY (v_failed_states)))
      INTO v_done, v_undone, v_failed
      FROM unnest(v_ids, v_old, v_new) AS t(id, os, ns);

    -- 1. Children: per child, minus the parents that entered completed in
    --    this statement, plus those that left it.
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
        -- Lock in job id order: concurrent completions sharing children cannot deadlock.
        PERFORM 1 FROM flow.node WHERE job_id = ANY (v_child) ORDER BY job_id FOR NO KEY UPDATE;

        -- One update per distinct change (almost always just -1).
        FOR v_delta IN SELECT DISTINCT d FROM unnest(v_cdelta) AS d LOOP
            WITH upd AS (
                UPDATE flow.node n
                   SET waiting = n.waiting + v_delta
                 WHERE n.job_id = ANY (ARRAY(SELECT t.c FROM unnest(v_child, v_cdelta) AS t(c, d) WHERE t.d = v_delta))
                RETURNING n.job_id, n.waiting
            )
            SELECT array_agg(job_id) INTO v_part FROM upd WHERE waiting = 0;
            v_ready := v_ready || coalesce(v_part, '{}');
        END LOOP;

        -- 2. Release every pending child whose parents have all completed.
        IF v_ready <> '{}' THEN
            WITH rel AS (
                UPDATE public.river_job j
                   SET state = CASE WHEN j.scheduled_at > now() THEN 'scheduled'::public.river_job_state
                                    ELSE 'available'::public.river_job_state END
                 -- state as text: a plan through the state index would read
                 -- every pending job of every run; this one probes the ids.
                 WHERE j.id = ANY (v_ready) AND j.state::text = 'pending'
                RETURNING j.queue, j.state
            )
            SELECT array_agg(DISTINCT queue) INTO v_queues FROM rel WHERE state = 'available';

            -- Wake River's producers on each queue at once (River listens on
            -- <schema>.river_insert with payload {"queue": ...}).
            IF v_queues IS NOT NULL THEN
                PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
                   FROM unnest(v_queues) AS q;
            END IF;
        END IF;
    END IF;

    -- 3. Failure: cancel every pending node below a node that was cancelled
    --    or discarded. Independent branches are not below it and go on.
    IF v_failed IS NOT NULL THEN
        -- Level by level (the graph is acyclic, so this ends within its
        -- depth); a node reached by paths of several lengths is listed once
        -- per level, and once in the end.
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
            -- state as text, as in the release: probe the ids, not the state index.
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

    -- 4. Runs: lock them in id order, then apply the counts in one
    --    statement; finish a run whose unfinished count reaches zero, and
    --    reopen one that was finished.
    SELECT array_agg(s.run_id ORDER BY s.run_id), array_agg(s.dfinal ORDER BY s.run_id), array_agg(s.dfail ORDER BY s.run_id)
      INTO v_rids, v_rfinal, v_rfail
      FROM (SELECT t.run_id,
                   sum((t.os = ANY (v_final))::int - (t.ns = ANY (v_final))::int)::int AS dfinal,
                   sum((t.ns = ANY (v_failed_states))::int - (t.os = ANY (v_failed_states))::int)::int AS dfail
              FROM unnest(v_runs, v_old, v_new) AS t(run_id, os, ns)
             GROUP BY t.run_id) s
     WHERE s.dfinal <> 0 OR s.dfail <> 0;

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
                   output      = CASE WHEN r.unfinished + d.dfinal > 0 THEN NULL ELSE flow.sink_outputs(r.id) END
              FROM unnest(v_rids, v_rfinal, v_rfail) AS d(run_id, dfinal, dfail)
             WHERE r.id = d.run_id
            RETURNING r.id, r.state, r.unfinished, d.dfinal
        )
        -- A finished run is announced on flow_run_finished: {"run_id": N, "state": "..."}.
        SELECT coalesce(array_agg(json_build_object('run_id', id, 'state', state)::text), '{}')
          INTO v_notes
          FROM upd
         WHERE unfinished = 0 AND dfinal < 0;
    END IF;
    PERFORM pg_notify('flow_run_finished', p) FROM unnest(v_notes) AS p;

    PERFORM set_config('flow.in_trigger', 'off', true);
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION flow.on_river_job_update() IS 'Releases children of completed flow nodes, cancels nodes below failed ones and keeps flow.run current, in the transaction that changed the jobs.';

-- Completed sink nodes' outputs (nodes nobody depends on), keyed by node id.
CREATE FUNCTION flow.sink_outputs(p_run_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_object_agg(n.node_id, j.metadata -> 'output'), '{}'::jsonb)
      FROM flow.node n
      JOIN public.river_job j ON j.id = n.job_id
     WHERE n.run_id = p_run_id AND n.children = '{}' AND j.state = 'completed';
$$;
COMMENT ON FUNCTION flow.sink_outputs(bigint) IS 'A run''s output: its completed sink nodes'' outputs keyed by node id.';

CREATE TRIGGER flow_release
    AFTER UPDATE ON public.river_job
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE FUNCTION flow.on_river_job_update();
COMMENT ON TRIGGER flow_release ON public.river_job IS 'htdag: releases children of completed flow nodes, cancels below failed ones, keeps flow.run current (flow.on_river_job_update).';
