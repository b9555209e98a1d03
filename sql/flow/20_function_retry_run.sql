-- Retries one run of a tree and, first, the failed child runs of its failed
-- nodes (recursively). Returns how many nodes it reset at every level. Called
-- by flow.retry on a top run.
CREATE OR REPLACE FUNCTION flow.retry_run(p_run_id bigint) RETURNS integer
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
    v_ready   bigint[];
    v_skip    bigint[];
    v_reasons text[];
    v_cancel  bigint[];
    v_reason  text;
    v_kready  bigint[];
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

    -- This function keeps this run's counts itself: with flow.in_trigger on,
    -- the release trigger skips the updates below.
    PERFORM set_config('flow.in_trigger', 'on', true);

    UPDATE public.river_job j
       SET state = 'pending',
           finalized_at = NULL,
           scheduled_at = now(),
           attempt = CASE WHEN j.state = 'discarded' THEN 0 ELSE j.attempt END,
           metadata = j.metadata - 'cancel_attempted_at' - 'flow_skipped' - 'flow_waiting_since'
      FROM flow.node n
     WHERE n.run_id = p_run_id AND j.id = n.job_id
       AND j.state IN ('discarded', 'cancelled');
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_reset := v_reset + v_n;

    UPDATE flow.node n
       SET waiting = w.waiting, failed_parents = w.failed, skipped_parents = w.skipped
      FROM (SELECT c.job_id,
                   count(pj.id) FILTER (WHERE pj.state <> 'completed')::integer AS waiting,
                   count(pj.id) FILTER (WHERE pj.state IN ('cancelled', 'discarded'))::integer AS failed,
                   count(pj.id) FILTER (WHERE pj.state = 'completed' AND pj.metadata ? 'flow_skipped')::integer AS skipped
              FROM flow.node c
              LEFT JOIN public.river_job pj ON pj.id = ANY (c.parents)
             WHERE c.run_id = p_run_id
             GROUP BY c.job_id) w
     WHERE n.job_id = w.job_id
       AND (n.waiting, n.failed_parents, n.skipped_parents) IS DISTINCT FROM (w.waiting, w.failed, w.skipped);

    -- What each pending node's trigger rule (and "if") makes of its parents
    -- now; nodes waiting for a child run keep waiting for it.
    WITH d AS (
        SELECT n.job_id, n.mode, n.condition IS NOT NULL AS has_if, n.concurrency_key IS NOT NULL AS keyed,
               flow.rule_decision(n.trigger_rule, n.waiting, n.failed_parents, n.skipped_parents) AS decision,
               n.trigger_rule
          FROM flow.node n
          JOIN public.river_job j ON j.id = n.job_id AND j.state = 'pending'
         WHERE n.run_id = p_run_id
           AND NOT EXISTS (SELECT 1 FROM flow.run c WHERE c.parent_job_id = n.job_id)
    ), c AS (
        SELECT h.job_id, h.holds, h.reason FROM flow.conditions_hold(ARRAY(SELECT job_id FROM d WHERE decision = 'run' AND has_if)) h
    )
    SELECT array_agg(d.job_id) FILTER (WHERE d.decision = 'run' AND d.mode IS NULL AND NOT d.keyed AND coalesce(c.holds, true)),
           array_agg(d.job_id) FILTER (WHERE d.decision = 'run' AND d.mode IS NOT NULL AND coalesce(c.holds, true)),
           array_agg(d.job_id) FILTER (WHERE d.decision = 'skip' OR NOT coalesce(c.holds, true)),
           array_agg(coalesce(c.reason, CASE WHEN d.trigger_rule = 'one_failed' THEN 'htdag: skipped: no parent failed (trigger one_failed)'
                                             ELSE 'htdag: skipped because a parent was skipped' END))
               FILTER (WHERE d.decision = 'skip' OR NOT coalesce(c.holds, true)),
           array_agg(d.job_id) FILTER (WHERE d.decision = 'cancel'),
           array_agg(d.job_id) FILTER (WHERE d.decision = 'run' AND d.keyed AND coalesce(c.holds, true))
      INTO v_ready, v_special, v_skip, v_reasons, v_cancel, v_kready
      FROM d LEFT JOIN c ON c.job_id = d.job_id;

    -- Tasks to run run again.
    WITH rel AS (
        UPDATE public.river_job j
           SET state = 'available'
         WHERE j.id = ANY (v_ready) AND j.state = 'pending'
        RETURNING j.queue
    )
    SELECT array_agg(DISTINCT queue) INTO v_queues FROM rel;
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
       FROM unnest(v_queues) AS q;
    -- Tasks with a concurrency key queue for a slot of their key again.
    IF v_kready IS NOT NULL THEN
        PERFORM flow.concurrency_settle('{}', '{}', v_kready, '{}');
    END IF;

    UPDATE flow.run r
       SET state = 'running',
           unfinished = c.unfinished,
           failed = c.failed,
           started_at = coalesce(r.started_at, now()),
           finished_at = NULL,
           cancelled_at = NULL,
           cancel_reason = NULL,
           output = NULL
      FROM (SELECT count(*) FILTER (WHERE j.state NOT IN ('completed', 'cancelled', 'discarded'))::integer AS unfinished,
                   count(*) FILTER (WHERE j.state IN ('cancelled', 'discarded'))::integer AS failed
              FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
             WHERE n.run_id = p_run_id) c
     WHERE r.id = p_run_id;

    -- A run with a deadline gets its whole budget again, from now.
    PERFORM flow.arm_deadline(r.id) FROM flow.run r WHERE r.id = p_run_id AND r.timeout_ms IS NOT NULL;

    PERFORM set_config('flow.in_trigger', 'off', true);

    -- From here the release trigger does the accounting. Sub-workflow and
    -- map nodes to run that never started start now (wait nodes wait
    -- again, with a fresh timeout); nodes to skip or cancel
    -- are, and their children decide in turn; nodes whose child run completed
    -- (after they were cancelled) take its output.
    IF v_special IS NOT NULL THEN
        SELECT array_agg(o.job_id), array_agg(o.state), array_agg(o.output), array_agg(o.error)
          INTO v_sjobs, v_sstates, v_souts, v_serrs
          FROM flow.start_special(v_special) o;
        IF v_sjobs IS NOT NULL THEN
            PERFORM flow.finish_special(v_sjobs, v_sstates, v_souts, v_serrs);
        END IF;
    END IF;
    FOR v_reason IN SELECT DISTINCT r FROM unnest(v_reasons) AS r LOOP
        UPDATE public.river_job j
           SET state = 'completed', finalized_at = now(),
               metadata = j.metadata || jsonb_build_object('flow_skipped', v_reason)
         WHERE j.id = ANY (ARRAY(SELECT t.id FROM unnest(v_skip, v_reasons) AS t(id, r) WHERE t.r = v_reason))
           AND j.state = 'pending';
    END LOOP;
    UPDATE public.river_job j
       SET state = 'cancelled', finalized_at = now(),
           errors = array_append(j.errors, jsonb_build_object('at', now(), 'attempt', j.attempt, 'trace', '',
                                                              'error', 'htdag: cancelled because an upstream node failed'))
     WHERE j.id = ANY (v_cancel) AND j.state = 'pending';

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
