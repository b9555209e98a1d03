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
-- The tree is cancelled in passes until a pass changes nothing: a child run
-- that an expansion committed while this function waited for a lock, or a
-- node River fetched between two of its statements, is found by the next.
--
-- Cancel is a point in time: work that completed before it commits stays
-- completed (a whole child run, even), and after it no node of the tree
-- completes (htdag's completer refuses a node whose cancel was asked for).
--
-- Only an admin or a member of the run's owner may cancel it; to anyone
-- else the run does not exist. SECURITY DEFINER, with SET clauses so that no
-- setting of the caller's steers it (flow.in_trigger preset to 'on' once
-- left a cancelled run running forever).
--
-- Locks: running jobs, then the other jobs, then the run rows, top run
-- first. A completion deep in the tree locks upwards (its job, then the node
-- waiting for its run, then that node's run...), so while this walks down a
-- tree that is finishing under it (or a node River fetched between two of
-- its statements is completed and locked by its completer) the two could
-- deadlock. So this function never waits long for a lock: lock_timeout is
-- 20 ms on the first try and doubles on each of the next six; a try that
-- times out (or is aborted as a deadlock victim) starts over after a short
-- random pause, having let the completion through. Only the eighth try waits
-- as long as it takes. PostgreSQL looks for a deadlock after
-- deadlock_timeout (1 s by default) of waiting, so a completion is almost
-- never the one aborted (it would be retried by its completer).
CREATE OR REPLACE FUNCTION flow.cancel(p_run_id bigint) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET flow.in_trigger = 'off'
SET flow.cancelling = ''
SET flow.deleting_runs = 'off'
SET lock_timeout = '20ms'
AS $$
DECLARE
    v_state  text;
    v_owner  name;
    v_runs   bigint[];
    v_changed integer;
    v_n      integer;
    v_ids    bigint[];
    v_queues text[];
    v_try    integer;
BEGIN
    SELECT state, owner INTO v_state, v_owner FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND OR NOT flow.can_see(v_owner) THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_state IN ('completed', 'failed', 'cancelled') THEN
        RAISE NOTICE 'htdag: run % is already %; nothing to cancel', p_run_id, v_state;
        RETURN false;
    END IF;

    FOR v_try IN 1 .. 8 LOOP
    -- Set outside the block: a rolled-back block would undo it.
    PERFORM set_config('lock_timeout', CASE WHEN v_try < 8 THEN (20 * 2 ^ (v_try - 1))::integer || 'ms' ELSE '0' END, true);
    BEGIN
        -- Passes over the whole tree until one changes nothing. Each pass
        -- sees what committed before it: a child run that an expansion
        -- committed while we waited for its node's lock, a node that River
        -- fetched between two statements of the pass (it escaped the second
        -- statement; the next pass tells it to stop). Running nodes are told
        -- first and cannot expand or complete any more; nodes not yet running
        -- are cancelled and locked, so River's fetch (SKIP LOCKED) passes them
        -- by. When a pass finds nothing to do, nothing in the tree can start.
        LOOP
            WITH RECURSIVE t AS (
                SELECT id FROM flow.run WHERE id = p_run_id
                UNION ALL
                SELECT c.id FROM flow.run c JOIN t ON c.parent_run_id = t.id
            )
            SELECT array_agg(t.id ORDER BY t.id) INTO v_runs
              FROM t JOIN flow.run r ON r.id = t.id
             WHERE r.state IN ('pending', 'running');
            EXIT WHEN v_runs IS NULL;

            -- The release trigger finishes runs listed here as 'cancelled'.
            PERFORM set_config('flow.cancelling',
                               concat_ws(',', nullif(current_setting('flow.cancelling', true), ''), array_to_string(v_runs, ',')), true);

            -- Running nodes not told yet: River's cancel (metadata +
            -- public.river_control signal), locked in id order first. Before
            -- the others: a completion holds its running job while it
            -- releases children, so taking the children first could deadlock.
            PERFORM 1
               FROM public.river_job j
              WHERE j.id IN (SELECT job_id FROM flow.node WHERE run_id = ANY (v_runs))
                AND j.state = 'running' AND NOT j.metadata ? 'cancel_attempted_at'
              ORDER BY j.id
                FOR UPDATE OF j;
            WITH running AS (
                UPDATE public.river_job j
                   SET metadata = jsonb_set(j.metadata, '{cancel_attempted_at}', to_jsonb(now()), true)
                  FROM flow.node n
                 WHERE n.run_id = ANY (v_runs) AND j.id = n.job_id
                   AND j.state = 'running' AND NOT j.metadata ? 'cancel_attempted_at'
                RETURNING j.id, j.queue
            )
            SELECT array_agg(id), array_agg(queue) INTO v_ids, v_queues FROM running;
            v_changed := coalesce(cardinality(v_ids), 0);
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
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_changed := v_changed + v_n;

            UPDATE flow.run SET cancelled_at = now() WHERE id = ANY (v_runs) AND cancelled_at IS NULL;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_changed := v_changed + v_n;
            EXIT WHEN v_changed = 0;
        END LOOP;
        RETURN true;
    EXCEPTION WHEN deadlock_detected OR lock_not_available THEN
        IF v_try = 8 THEN
            RAISE;
        END IF;
        PERFORM pg_sleep(random() * 0.05 * v_try);
    END;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION flow.cancel(bigint) IS 'Cancels every unfinished node of a run and of every run below it (running ones through River''s cancel signal); the runs end cancelled. False, with a NOTICE, for a run already finished.';
