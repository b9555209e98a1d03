-- flow.cancel(run_id): cancels every node of a run and of every run below it
-- that has not finished. Returns true, or false (with a NOTICE) for a run that
-- had already finished, which it leaves alone.
--
-- Running nodes are cancelled the way River's JobCancel does it: metadata
-- cancel_attempted_at is set and River's control channel tells their producer
-- to cancel the work context; River then records the attempt as cancelled
-- (not as an error to retry), whichever client works it. Pending, available,
-- scheduled and retryable nodes are cancelled at once; nodes waiting for a
-- child run are cancelled with the rest, and their child runs finish
-- 'cancelled' too. A run finishes 'cancelled' once nothing in it is running.
--
-- The tree is cancelled in rounds: a child run that an expansion committed
-- while this function waited for a lock is found by the next round.
--
-- Locks: running jobs, then the other jobs, then the run rows last. A
-- completion holds its running job before it locks children and then runs,
-- so this order never deadlocks with completions or fetches.
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
COMMENT ON FUNCTION flow.cancel(bigint) IS 'Cancels every unfinished node of a run and of every run below it (running ones through River''s cancel signal); the runs end cancelled. False, with a NOTICE, for a run already finished.';
