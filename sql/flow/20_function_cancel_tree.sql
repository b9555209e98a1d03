-- flow.cancel_tree(run_id, reason): the work of flow.cancel and of a run's
-- deadline (flow.cancel_at_deadline): cancels every node of a run and of
-- every run below it that has not finished, and records reason as the
-- cancel_reason of each run it cancels (a run already cancelling keeps its
-- first reason); the nodes it cancels get the error "htdag: " || reason.
-- Returns true. See flow.cancel for what cancelling means.
--
-- Locks: running jobs, then the other jobs, then the run rows, top run
-- first. A completion deep in the tree locks upwards (its job, then the node
-- waiting for its run, then that node's run...), so while this walks down a
-- tree that is finishing under it (or a node River fetched between two of
-- its statements is completed and locked by its completer) the two could
-- deadlock. So this function never waits long for a lock: lock_timeout is
-- 20 ms on the first try and doubles on each of the next six, but stays
-- under half of deadlock_timeout (1 s by default: 500 ms); a try that
-- times out (or is aborted as a deadlock victim) starts over after a short
-- random pause, having let the completion through. Only the eighth try waits
-- as long as it takes. PostgreSQL looks for a deadlock only after
-- deadlock_timeout of waiting, so a try's own timeout comes first and a
-- completion is almost never the one aborted (it would be retried by its
-- completer; the soak once saw that with a 1,280 ms try).
CREATE OR REPLACE FUNCTION flow.cancel_tree(p_run_id bigint, p_reason text) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET flow.in_trigger = 'off'
SET flow.cancelling = ''
SET flow.deleting_runs = 'off'
SET lock_timeout = '20ms'
AS $$
DECLARE
    v_runs   bigint[];
    v_changed integer;
    v_n      integer;
    v_ids    bigint[];
    v_queues text[];
    v_try    integer;
BEGIN
    FOR v_try IN 1 .. 8 LOOP
    -- Set outside the block: a rolled-back block would undo it.
    PERFORM set_config('lock_timeout',
                       CASE WHEN v_try < 8
                            THEN greatest(1, least(20 * 2 ^ (v_try - 1),
                                                   extract(epoch FROM current_setting('deadlock_timeout')::interval) * 500))::integer || 'ms'
                            ELSE '0' END,
                       true);
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
                       'error', 'htdag: ' || p_reason))
              FROM flow.node n
             WHERE n.run_id = ANY (v_runs)
               AND j.id = n.job_id
               AND j.state IN ('pending', 'available', 'scheduled', 'retryable');
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_changed := v_changed + v_n;

            -- A run the release trigger finished in this pass has its
            -- cancelled_at already, not its reason.
            UPDATE flow.run
               SET cancelled_at = coalesce(cancelled_at, now()), cancel_reason = coalesce(cancel_reason, p_reason)
             WHERE id = ANY (v_runs) AND (cancelled_at IS NULL OR cancel_reason IS NULL);
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
COMMENT ON FUNCTION flow.cancel_tree(bigint, text) IS 'Internal: cancels every unfinished node of a run and of every run below it, recording the reason on the runs and in the nodes'' errors.';
