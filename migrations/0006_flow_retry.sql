-- flow.retry(run_id): resume a failed or cancelled run from its failure
-- frontier.
--
-- Completed nodes keep their outputs and are not run again. Discarded and
-- cancelled nodes go back to pending (discarded ones with a fresh attempt
-- budget: attempt 0); every node's count of unfinished parents is recomputed
-- from the edges; nodes whose parents have all completed are released and the
-- workers woken; the run is running again. Returns how many nodes were reset.
--
-- Retrying a run that is pending or running (including one just retried)
-- changes nothing and says so (a NOTICE, and 0), as does retrying a completed
-- run. A run some of whose jobs River's cleaner already deleted cannot be
-- retried (its completed nodes' outputs are gone): that is an error.
CREATE FUNCTION flow.retry(p_run_id bigint) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state  text;
    v_reset  integer;
    v_ready  bigint[];
    v_queues text[];
BEGIN
    SELECT state INTO v_state FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
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

    -- This function keeps the counts itself: the release trigger and the
    -- guards stand aside for its updates (nothing else can touch a finished
    -- run's jobs meanwhile: they are final, and the run row is locked).
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
    GET DIAGNOSTICS v_reset = ROW_COUNT;

    -- waiting = parents whose job is not completed, from the edges.
    UPDATE flow.node n
       SET waiting = w.waiting
      FROM (SELECT c.job_id, count(pj.id) FILTER (WHERE pj.state <> 'completed')::integer AS waiting
              FROM flow.node c
              LEFT JOIN public.river_job pj ON pj.id = ANY (c.parents)
             WHERE c.run_id = p_run_id
             GROUP BY c.job_id) w
     WHERE n.job_id = w.job_id AND n.waiting <> w.waiting;

    WITH rel AS (
        UPDATE public.river_job j
           SET state = 'available'
          FROM flow.node n
         WHERE n.run_id = p_run_id AND j.id = n.job_id AND n.waiting = 0 AND j.state = 'pending'
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
    RETURN v_reset;
END;
$$;
COMMENT ON FUNCTION flow.retry(bigint) IS 'Resumes a failed or cancelled run: resets its discarded (fresh attempts) and cancelled nodes, recomputes counts, releases what can run. Completed nodes are not run again. 0, with a NOTICE, for a run that is not failed or cancelled.';
