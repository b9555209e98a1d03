-- flow.cancel(run_id): cancel every node of a run that has not finished.
--
-- Running nodes are cancelled the way River's JobCancel does it: metadata
-- cancel_attempted_at is set and River's control channel tells their producer
-- to cancel the work context; River then records the attempt as cancelled
-- (not as an error to retry), whichever client works it. Pending, available,
-- scheduled and retryable nodes are cancelled at once. The run finishes
-- 'cancelled' once nothing is left running. Cancelling a finished run changes
-- nothing and says so (a NOTICE, and false).
--
-- Locks: running jobs, then the other jobs, then the run row last. A
-- completion holds its running job before it locks children and then runs,
-- so this order never deadlocks with completions or fetches.
CREATE FUNCTION flow.cancel(p_run_id bigint) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state  text;
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

    -- The release trigger finishes runs listed here as 'cancelled'.
    PERFORM set_config('flow.cancelling',
                       concat_ws(',', nullif(current_setting('flow.cancelling', true), ''), p_run_id::text), true);

    -- Running nodes: River's cancel (metadata + public.river_control signal),
    -- locked in id order first.
    PERFORM 1
       FROM public.river_job j
      WHERE j.id IN (SELECT job_id FROM flow.node WHERE run_id = p_run_id) AND j.state = 'running'
      ORDER BY j.id
        FOR UPDATE OF j;
    WITH running AS (
        UPDATE public.river_job j
           SET metadata = jsonb_set(j.metadata, '{cancel_attempted_at}', to_jsonb(now()), true)
          FROM flow.node n
         WHERE n.run_id = p_run_id AND j.id = n.job_id AND j.state = 'running'
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
     WHERE n.run_id = p_run_id
       AND j.id = n.job_id
       AND j.state IN ('pending', 'available', 'scheduled', 'retryable');

    UPDATE flow.run SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = p_run_id;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION flow.cancel(bigint) IS 'Cancels every unfinished node of a run (running ones through River''s cancel signal); the run ends cancelled. False, with a NOTICE, for a run already finished.';
