-- The release trigger's function (trigger flow_release on river_job).
--
-- Statement-level, with transition tables, so that a statement completing many
-- jobs at once (River's batch completer, htdag's grouped completer) does the
-- work once per statement. For the flow jobs of the statement that entered or
-- left a final state (a skipped node is a completed one with metadata
-- flow_skipped) it:
--   1. sums, per child, the parents that entered (or left) completed, failed
--      (cancelled or discarded) and skipped, locks those children in job id
--      order and updates their counters (waiting, failed_parents,
--      skipped_parents); each child whose trigger rule now decides
--      (flow.rule_decision) is to run, be skipped or be cancelled;
--   2. releases every task to run (available, or scheduled for a future
--      "at") and notifies River's producers on public.river_insert, once per
--      queue; a sub-workflow or map node to run starts its child run instead
--      (flow.start_special); a node with an "if" runs only if it holds
--      (flow.conditions_hold), else it is skipped;
--   3. skips (completed, flow_skipped) or cancels ("an upstream node
--      failed") the nodes so decided: their change is the next round's input,
--      so skipping and cancelling cascade by each node's own rule;
--   4. updates the runs' counters, locking runs in id order, finishes a run
--      whose unfinished count reaches 0 and announces it on flow_run_finished
--      ({"run_id": N, "state": "..."}), and deletes the deadline job of a
--      finished run that had one ("timeout_ms", flow.arm_deadline);
--   5. finishes each node whose child run finished in step 4 (completed with
--      the run's output, or failed), and the nodes finished at once in step 2
--      (a map over []): those changes are the next round's input too; steps
--      1-5 run again in this same invocation until nothing more changes. A
--      round follows only a cascade or a run finishing, so statements that
--      complete nodes without any of these run one round.
--   6. a node with a concurrency key (README "Concurrency keys") is not
--      released in step 2 but queued for a slot of its key, and a keyed node
--      of the statement that finished gives its slot back; both are settled
--      once, after the rounds, by flow.concurrency_settle, which admits the
--      oldest waiting nodes of each key while it has free slots. Nodes
--      without a key cost only a column test for this.
--
-- A run being cancelled (flow.cancel, listed in flow.cancelling) gets no
-- decisions: its pending nodes are all cancelled by the same statement.
--
-- Every lookup goes through a primary key with "= ANY (array)", so the work
-- follows the jobs the statement changed and their own edges, never the size
-- of a run or of the tables. Locks are taken in one order (children, then
-- runs, each by id), so concurrent completions sharing a child cannot
-- deadlock. The trigger's own updates of river_job (releases, cascaded
-- cancels) are skipped by the flow.in_trigger guard: the invocation that made
-- them accounts for them.
--
-- Settings: plans are made once per session (re-planning was ~20% of a chain
-- step's CPU, and every lookup is by key whatever the arrays hold); a generic
-- plan made while a table was small must not stay a sequential scan once it
-- is large; transition tables have no statistics, so no JIT.
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
    v_osk     boolean[]; -- skipped before
    v_nsk     boolean[]; -- and after
    v_runs    bigint[];  -- their runs
    v_child   bigint[];
    v_cdw     integer[]; -- per child: change of waiting,
    v_cdf     integer[]; -- of failed_parents
    v_cds     integer[]; -- and of skipped_parents
    v_tr      record;
    v_ready   bigint[];
    v_special bigint[];  -- sub-workflow and map nodes to start
    v_cond    bigint[];  -- nodes to run if their "if" holds
    v_cancel  bigint[];
    v_skip    bigint[];
    v_reasons text[];    -- why each of v_skip is skipped
    v_reason  text;
    v_part    bigint[];
    v_part2   bigint[];
    v_part3   bigint[];
    v_part4   bigint[];
    v_part5   bigint[];
    v_tpart   text[];
    v_queues  text[];
    v_nready  bigint;
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
    v_deadlines bigint[]; -- deadline jobs of the runs that finished
    v_next_ids  bigint[];
    v_next_runs bigint[];
    v_next_new  text[];
    v_next_nsk  boolean[];
    v_kfree   bigint[];  -- concurrency keys: nodes that gave their slot back,
    v_ktake   bigint[];  -- took one (made runnable from a final state by hand),
    v_kgone   bigint[];  -- finished while pending (out of the queue),
    v_kready  bigint[] := '{}'; -- are to run (queued for a slot)
    v_kcond   bigint[];  -- are to run if their "if" holds
    v_kpart   bigint[];
    v_kpart2  bigint[];
    v_cancelling bigint[] := string_to_array(nullif(current_setting('flow.cancelling', true), ''), ',')::bigint[];
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

    -- (Aggregates read a subquery sorted once, not one sort each.)
    SELECT array_agg(u.id), array_agg(u.os), array_agg(u.ns), array_agg(u.osk), array_agg(u.nsk)
      INTO v_ids, v_old, v_new, v_osk, v_nsk
      FROM (SELECT x.id, max(x.os) AS os, max(x.ns) AS ns, bool_or(x.osk) AS osk, bool_or(x.nsk) AS nsk
              FROM (SELECT id, NULL::text AS os, state::text AS ns,
                           false AS osk, state = 'completed' AND metadata ? 'flow_skipped' AS nsk
                      FROM new_jobs WHERE metadata ? 'flow_run'
                    UNION ALL
                    SELECT id, state::text, NULL,
                           state = 'completed' AND metadata ? 'flow_skipped', false
                      FROM old_jobs WHERE metadata ? 'flow_run') x
             GROUP BY x.id
            HAVING (max(x.os) IS DISTINCT FROM max(x.ns) OR bool_or(x.osk) <> bool_or(x.nsk))
               AND (max(x.os) = ANY (v_final) OR max(x.ns) = ANY (v_final))
             ORDER BY x.id) u;
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;

    WITH n AS MATERIALIZED (
        SELECT job_id, run_id, concurrency_key FROM flow.node WHERE job_id = ANY (v_ids)
    )
    SELECT array_agg(t.id), array_agg(t.run_id), array_agg(t.os), array_agg(t.ns), array_agg(t.osk), array_agg(t.nsk),
           array_agg(t.id) FILTER (WHERE t.keyed AND t.os <> 'pending' AND NOT t.os = ANY (v_final)),
           array_agg(t.id) FILTER (WHERE t.keyed AND t.os = ANY (v_final) AND t.ns <> 'pending' AND NOT t.ns = ANY (v_final)),
           array_agg(t.id) FILTER (WHERE t.keyed AND t.os = 'pending')
      INTO v_ids, v_runs, v_old, v_new, v_osk, v_nsk, v_kfree, v_ktake, v_kgone
      FROM (SELECT t.id, n.run_id, t.os, t.ns, t.osk, t.nsk, n.concurrency_key IS NOT NULL AS keyed
              FROM n
              JOIN unnest(v_ids, v_old, v_new, v_osk, v_nsk) AS t(id, os, ns, osk, nsk) ON t.id = n.job_id
             ORDER BY t.id) t;
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;

    PERFORM set_config('flow.in_trigger', 'on', true);

    LOOP
        v_ready := '{}';
        v_special := '{}';
        v_cond := '{}';
        v_cancel := '{}';
        v_skip := '{}';
        v_reasons := '{}';
        v_kcond := '{}';
        v_child := NULL;
        v_rids := NULL;
        v_notes := '{}';
        v_next_ids := '{}';
        v_next_runs := '{}';
        v_next_new := '{}';
        v_next_nsk := '{}';

        -- 1. Children: per child, the change of its counters, from one
        --    pass over the changed parents (a parent that entered completed
        --    lowers waiting; one that entered a failed state raises
        --    failed_parents, one that was skipped skipped_parents; leaving
        --    undoes it). Failures and skips in a run being cancelled decide
        --    nothing.
        SELECT array_agg(s.child ORDER BY s.child), array_agg(s.dw ORDER BY s.child),
               array_agg(s.df ORDER BY s.child), array_agg(s.ds ORDER BY s.child)
          INTO v_child, v_cdw, v_cdf, v_cds
          FROM (SELECT ch AS child, sum(d.dw)::integer AS dw, sum(d.df)::integer AS df, sum(d.ds)::integer AS ds
                  FROM (SELECT t.id,
                               CASE WHEN t.ns = 'completed' AND t.os <> 'completed' THEN -1
                                    WHEN t.os = 'completed' AND t.ns <> 'completed' THEN 1 ELSE 0 END AS dw,
                               CASE WHEN t.ns = ANY (v_failed_states) AND NOT (t.os = ANY (v_failed_states))
                                         AND NOT t.run_id = ANY (coalesce(v_cancelling, '{}')) THEN 1
                                    WHEN t.os = ANY (v_failed_states) AND NOT (t.ns = ANY (v_failed_states)) THEN -1 ELSE 0 END AS df,
                               CASE WHEN t.nsk AND NOT t.osk THEN 1 WHEN t.osk AND NOT t.nsk THEN -1 ELSE 0 END AS ds
                          FROM unnest(v_ids, v_runs, v_old, v_new, v_osk, v_nsk) AS t(id, run_id, os, ns, osk, nsk)) d
                  JOIN flow.node p ON p.job_id = d.id
                 CROSS JOIN LATERAL unnest(p.children) AS ch
                 WHERE d.dw <> 0 OR d.df <> 0 OR d.ds <> 0
                 GROUP BY ch) s
         WHERE s.dw <> 0 OR s.df <> 0 OR s.ds <> 0;

        IF v_child IS NOT NULL THEN
            PERFORM 1 FROM flow.node WHERE job_id = ANY (v_child) ORDER BY job_id FOR NO KEY UPDATE;

            -- One statement per distinct change (almost always one: every
            -- parent of the statement completed). A decision is acted on
            -- when it first appears: before the change the counters did not
            -- decide it.
            FOR v_tr IN SELECT DISTINCT t.dw, t.df, t.ds FROM unnest(v_cdw, v_cdf, v_cds) AS t(dw, df, ds) LOOP
                WITH upd AS (
                    UPDATE flow.node n
                       SET waiting = n.waiting + v_tr.dw,
                           failed_parents = n.failed_parents + v_tr.df,
                           skipped_parents = n.skipped_parents + v_tr.ds
                     WHERE n.job_id = ANY (ARRAY(SELECT t.c FROM unnest(v_child, v_cdw, v_cdf, v_cds) AS t(c, dw, df, ds)
                                                  WHERE t.dw = v_tr.dw AND t.df = v_tr.df AND t.ds = v_tr.ds))
                    RETURNING n.job_id, n.mode, n.condition IS NOT NULL AS has_if, n.trigger_rule,
                              n.concurrency_key IS NOT NULL AS keyed,
                              flow.rule_decision(n.trigger_rule, n.waiting, n.failed_parents, n.skipped_parents) AS now,
                              flow.rule_decision(n.trigger_rule, n.waiting - v_tr.dw, n.failed_parents - v_tr.df,
                                                 n.skipped_parents - v_tr.ds) AS before
                )
                SELECT array_agg(job_id) FILTER (WHERE now = 'run' AND NOT has_if AND mode IS NULL AND NOT keyed),
                       array_agg(job_id) FILTER (WHERE now = 'run' AND NOT has_if AND mode IS NOT NULL),
                       array_agg(job_id) FILTER (WHERE now = 'run' AND has_if),
                       array_agg(job_id) FILTER (WHERE now = 'cancel'),
                       array_agg(job_id) FILTER (WHERE now = 'skip'),
                       array_agg(CASE WHEN trigger_rule = 'one_failed' THEN 'htdag: skipped: no parent failed (trigger one_failed)'
                                      ELSE 'htdag: skipped because a parent was skipped' END) FILTER (WHERE now = 'skip'),
                       array_agg(job_id) FILTER (WHERE now = 'run' AND keyed AND NOT has_if),
                       array_agg(job_id) FILTER (WHERE now = 'run' AND keyed AND has_if)
                  INTO v_part, v_part2, v_part3, v_part4, v_part5, v_tpart, v_kpart, v_kpart2
                  FROM upd
                 WHERE now IS DISTINCT FROM before AND now IS NOT NULL;
                v_ready := v_ready || coalesce(v_part, '{}');
                v_special := v_special || coalesce(v_part2, '{}');
                v_cond := v_cond || coalesce(v_part3, '{}');
                v_cancel := v_cancel || coalesce(v_part4, '{}');
                v_skip := v_skip || coalesce(v_part5, '{}');
                v_reasons := v_reasons || coalesce(v_tpart, '{}');
                v_kready := v_kready || coalesce(v_kpart, '{}');
                v_kcond := v_kcond || coalesce(v_kpart2, '{}');
            END LOOP;

            -- 2a. Nodes with an "if" run if it holds, and are skipped if not.
            IF v_cond <> '{}' THEN
                SELECT v_ready || coalesce(array_agg(c.job_id) FILTER (WHERE c.holds AND c.mode IS NULL), '{}'),
                       v_special || coalesce(array_agg(c.job_id) FILTER (WHERE c.holds AND c.mode IS NOT NULL), '{}'),
                       v_skip || coalesce(array_agg(c.job_id) FILTER (WHERE NOT c.holds), '{}'),
                       v_reasons || coalesce(array_agg(c.reason) FILTER (WHERE NOT c.holds), '{}')
                  INTO v_ready, v_special, v_skip, v_reasons
                  FROM flow.conditions_hold(v_cond) c;
                -- Those with a concurrency key queue for a slot instead.
                IF v_kcond <> '{}' THEN
                    v_kready := v_kready || ARRAY(SELECT r FROM unnest(v_ready) AS r WHERE r = ANY (v_kcond));
                    v_ready := ARRAY(SELECT r FROM unnest(v_ready) AS r WHERE NOT r = ANY (v_kcond));
                END IF;
            END IF;

            -- 2b. Release the tasks to run.
            IF v_ready <> '{}' THEN
                WITH rel AS (
                    UPDATE public.river_job j
                       SET state = CASE WHEN j.scheduled_at > now() THEN 'scheduled'::public.river_job_state
                                        ELSE 'available'::public.river_job_state END
                     WHERE j.id = ANY (v_ready) AND j.state::text = 'pending'
                    RETURNING j.queue, j.state
                )
                SELECT array_agg(DISTINCT queue), count(*) INTO v_queues, v_nready FROM rel WHERE state = 'available';
                IF v_queues IS NOT NULL THEN
                    PERFORM flow.notify_runnable(v_queues, v_nready);
                END IF;
            END IF;

            -- 2c. Start sub-workflow and map nodes to run; those finished
            --     at once (a map over [], a node that cannot start) are the
            --     next round's changes.
            IF v_special <> '{}' THEN
                SELECT array_agg(o.job_id), array_agg(o.state), array_agg(o.output), array_agg(o.error)
                  INTO v_sjobs, v_sstates, v_souts, v_serrs
                  FROM flow.start_special(v_special) o;
                IF v_sjobs IS NOT NULL THEN
                    SELECT v_next_ids || coalesce(array_agg(f.job_id), '{}'), v_next_runs || coalesce(array_agg(f.run_id), '{}'),
                           v_next_new || coalesce(array_agg(f.state), '{}'),
                           v_next_nsk || coalesce(array_agg(false), '{}')
                      INTO v_next_ids, v_next_runs, v_next_new, v_next_nsk
                      FROM flow.finish_special(v_sjobs, v_sstates, v_souts, v_serrs) f;
                END IF;
            END IF;

            -- 3. Cancel and skip the nodes so decided: the next round's
            --    changes, which their own children decide on in turn.
            IF v_cancel <> '{}' THEN
                WITH c AS (
                    UPDATE public.river_job j
                       SET state = 'cancelled',
                           finalized_at = now(),
                           errors = array_append(j.errors, jsonb_build_object(
                               'at', now(), 'attempt', j.attempt, 'trace', '',
                               'error', 'htdag: cancelled because an upstream node failed'))
                     WHERE j.id = ANY (v_cancel) AND j.state::text = 'pending'
                    RETURNING j.id, (j.metadata ->> 'flow_run')::bigint AS run_id
                )
                SELECT v_next_ids || coalesce(array_agg(c.id), '{}'), v_next_runs || coalesce(array_agg(c.run_id), '{}'),
                       v_next_new || coalesce(array_agg('cancelled'::text), '{}'),
                       v_next_nsk || coalesce(array_agg(false), '{}')
                  INTO v_next_ids, v_next_runs, v_next_new, v_next_nsk
                  FROM c;
            END IF;
            IF v_skip <> '{}' THEN
                FOR v_reason IN SELECT DISTINCT r FROM unnest(v_reasons) AS r LOOP
                    WITH s AS (
                        UPDATE public.river_job j
                           SET state = 'completed',
                               finalized_at = now(),
                               metadata = j.metadata || jsonb_build_object('flow_skipped', v_reason)
                         WHERE j.id = ANY (ARRAY(SELECT t.id FROM unnest(v_skip, v_reasons) AS t(id, r) WHERE t.r = v_reason))
                           AND j.state::text = 'pending'
                        RETURNING j.id, (j.metadata ->> 'flow_run')::bigint AS run_id
                    )
                    SELECT v_next_ids || coalesce(array_agg(s.id), '{}'), v_next_runs || coalesce(array_agg(s.run_id), '{}'),
                           v_next_new || coalesce(array_agg('completed'::text), '{}'),
                           v_next_nsk || coalesce(array_agg(true), '{}')
                      INTO v_next_ids, v_next_runs, v_next_new, v_next_nsk
                      FROM s;
                END LOOP;
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
                RETURNING r.id, r.state, r.unfinished, d.dfinal, r.parent_job_id, r.output, r.deadline_job_id
            )
            SELECT coalesce(array_agg(json_build_object('run_id', id, 'state', state)::text), '{}'),
                   array_agg(parent_job_id ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(state ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(output ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(id ORDER BY parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL),
                   array_agg(deadline_job_id ORDER BY deadline_job_id) FILTER (WHERE deadline_job_id IS NOT NULL)
              INTO v_notes, v_fjobs, v_fstates, v_fouts, v_fruns, v_deadlines
              FROM upd
             WHERE unfinished = 0 AND dfinal < 0;
            -- A finished run's deadline job has nothing left to do. One
            -- already running (the deadline's own) is left to finish, and
            -- so is one that River's scheduler or a fetch holds right now:
            -- never waited for, it will find the run finished.
            IF v_deadlines IS NOT NULL THEN
                DELETE FROM public.river_job
                 WHERE id IN (SELECT j.id FROM public.river_job j
                               WHERE j.id = ANY (v_deadlines) AND j.kind = 'flow.run_deadline'
                                 AND j.state IN ('scheduled', 'available')
                                 FOR UPDATE SKIP LOCKED);
            END IF;
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
                   v_next_new || coalesce(array_agg(state), '{}'), v_next_nsk || coalesce(array_agg(false), '{}')
              INTO v_next_ids, v_next_runs, v_next_new, v_next_nsk
              FROM fin;
        END IF;

        EXIT WHEN v_next_ids = '{}';
        SELECT array_agg(t.id ORDER BY t.id), array_agg(t.run_id ORDER BY t.id), array_agg(t.ns ORDER BY t.id),
               array_agg(t.nsk ORDER BY t.id)
          INTO v_ids, v_runs, v_new, v_nsk
          FROM unnest(v_next_ids, v_next_runs, v_next_new, v_next_nsk) AS t(id, run_id, ns, nsk);
        v_old := array_fill('pending'::text, ARRAY[cardinality(v_ids)]);
        v_osk := array_fill(false, ARRAY[cardinality(v_ids)]);
    END LOOP;

    -- 6. Concurrency keys, once all rounds are done (the keys locked once, in
    --    key order): slots given back by nodes of the statement that
    --    finished, nodes queued, waiting nodes admitted
    --    (flow.concurrency_settle). Nodes without a key never get here.
    IF v_kfree IS NOT NULL OR v_ktake IS NOT NULL OR v_kgone IS NOT NULL OR v_kready <> '{}' THEN
        PERFORM flow.concurrency_settle(v_kfree, v_ktake, v_kready, v_kgone);
    END IF;

    PERFORM set_config('flow.in_trigger', 'off', true);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.on_river_job_update() IS 'Releases children of completed flow nodes, cancels nodes below failed ones and keeps flow.run current, in the transaction that changed the jobs.';
