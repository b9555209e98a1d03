-- Rescue: every live worker calls this about once a second (Go:
-- flow.JoinFleet). It declares dead each worker whose liveness lock has been
-- free for p_grace, counted from its last heartbeat or from the server's
-- start, whichever is later (so a PostgreSQL restart, which drops every
-- worker's session at once, is not mistaken for a fleet of deaths: workers
-- reconnect within the grace). Then it sends the flow nodes still running on
-- a dead worker back to be worked again, at once and by any worker:
--
--   * state 'available'; the lost attempt keeps its number and max_attempts
--     grows by one, so a worker's death does not use up the node's budget,
--     and attempt numbers stay unique: a late write of the lost attempt is
--     told apart from the next one (flow_guard_stale_attempt, and htdag's
--     completer, which completes only the attempt it ran);
--   * an error entry records "htdag: worker N (host, pid P) died while
--     running this attempt" (flow.RiverConfig's retry policy does not count
--     these when it computes a backoff);
--   * a node whose cancel was asked for (cancel_attempted_at) is cancelled;
--   * a node whose worker died p_max_rescues times is discarded, saying so:
--     something in it kills its worker (say, running out of memory).
--
-- Running jobs are looked at only while a worker died in the last minute
-- (a dead worker that had not noticed yet may have fetched more), or with
-- p_sweep (Go: every 30 s): then every running node of any dead worker is,
-- and so is a node of an htdag River client that never registered (its
-- process died between fetching and registering) once it has run for a
-- minute. River's producers are woken for the queues that got work. Returns
-- one row per rescued node.
--
-- Concurrent callers do not rescue twice: dead workers are claimed with
-- SKIP LOCKED, and rescued jobs are updated only while still running.
CREATE OR REPLACE FUNCTION flow.rescue_lost_nodes(p_grace interval DEFAULT '3 seconds', p_sweep boolean DEFAULT false,
                                                  p_max_rescues integer DEFAULT 100)
RETURNS TABLE (worker_id bigint, job_id bigint, action text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_dead    bigint[];
    v_workers bigint[];
    v_jobs    bigint[];
    v_actions text[];
    v_queues  text[];
BEGIN
    WITH lost AS (
        SELECT w.id FROM flow.worker w
         WHERE w.stopped_at IS NULL AND w.dead_at IS NULL
           AND greatest(w.last_seen_at, pg_postmaster_start_time()) < now() - p_grace
           AND NOT flow.worker_alive(w.id)
         ORDER BY w.id
           FOR UPDATE SKIP LOCKED
    ), dead AS (
        UPDATE flow.worker w SET dead_at = now()
          FROM lost WHERE w.id = lost.id
        RETURNING w.id
    )
    SELECT array_agg(id ORDER BY id) INTO v_dead FROM dead;
    IF NOT p_sweep THEN
        SELECT array_agg(w.id) INTO v_dead FROM flow.worker w WHERE w.dead_at > now() - interval '1 minute';
        IF v_dead IS NULL THEN
            RETURN;
        END IF;
    END IF;

    WITH lost_jobs AS (
        SELECT j.id, w.id AS worker_id, w.host, w.pid,
               (coalesce((j.metadata ->> 'flow_rescues')::integer, 0) + 1) AS rescues
          FROM public.river_job j
          LEFT JOIN flow.worker w ON w.client_id = j.attempted_by[array_upper(j.attempted_by, 1)]
         WHERE j.state = 'running' AND j.metadata ? 'flow_run'
           AND (w.id = ANY (v_dead)
                OR (p_sweep AND w.dead_at IS NOT NULL)
                OR (p_sweep AND w.id IS NULL AND j.attempted_by[array_upper(j.attempted_by, 1)] LIKE 'htdag\_%'
                    AND j.attempted_at < now() - interval '1 minute'))
         ORDER BY j.id
           FOR UPDATE OF j SKIP LOCKED
    ), upd AS (
        UPDATE public.river_job j
           SET state = CASE WHEN j.metadata ? 'cancel_attempted_at' THEN 'cancelled'::public.river_job_state
                            WHEN l.rescues > p_max_rescues THEN 'discarded'::public.river_job_state
                            ELSE 'available'::public.river_job_state END,
               max_attempts = CASE WHEN j.metadata ? 'cancel_attempted_at' OR l.rescues > p_max_rescues THEN j.max_attempts
                                   ELSE least(j.max_attempts + 1, 32767) END,
               scheduled_at = now(),
               finalized_at = CASE WHEN j.metadata ? 'cancel_attempted_at' OR l.rescues > p_max_rescues THEN now() END,
               metadata = j.metadata || jsonb_build_object('flow_rescues', l.rescues),
               errors = array_append(j.errors, jsonb_build_object(
                   'at', now(), 'attempt', j.attempt, 'trace', '',
                   'error', CASE WHEN l.worker_id IS NULL
                                 THEN format('htdag: River client %s died before it registered, while running this attempt',
                                             j.attempted_by[array_upper(j.attempted_by, 1)])
                                 ELSE format('htdag: worker %s (%s, pid %s) died while running this attempt', l.worker_id, l.host, l.pid)
                            END
                            || CASE WHEN j.metadata ? 'cancel_attempted_at' THEN '; its cancel was asked for, so it is cancelled'
                                    WHEN l.rescues > p_max_rescues THEN format('; its worker died %s times running it, so it is discarded', l.rescues)
                                    ELSE '; it runs again, and the attempt is not counted against max_attempts' END))
          FROM lost_jobs l
         WHERE j.id = l.id
        RETURNING l.worker_id, j.id, j.state::text AS state, j.queue
    )
    SELECT array_agg(u.worker_id ORDER BY u.id), array_agg(u.id ORDER BY u.id), array_agg(u.state ORDER BY u.id),
           array_agg(DISTINCT u.queue) FILTER (WHERE u.state = 'available')
      INTO v_workers, v_jobs, v_actions, v_queues
      FROM upd u;
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text) FROM unnest(v_queues) AS q;

    IF p_sweep THEN
        -- Ended workers stay visible for a day.
        DELETE FROM flow.worker w
         WHERE w.id IN (SELECT x.id FROM flow.worker x
                         WHERE coalesce(x.stopped_at, x.dead_at) < now() - interval '1 day'
                         ORDER BY x.id LIMIT 100);
    END IF;

    RETURN QUERY SELECT * FROM unnest(v_workers, v_jobs, v_actions);
END;
$$;

COMMENT ON FUNCTION flow.rescue_lost_nodes(interval, boolean, integer) IS 'Declares dead the workers whose liveness lock is gone past the grace, and sends their running flow nodes back to be worked (attempt not counted); one row per node.';
