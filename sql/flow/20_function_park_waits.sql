-- Parks released wait nodes (still pending): each waits for flow.signal,
-- costing no worker and no polling. Its job's metadata gets
-- flow_waiting_since (now); with a "timeout_ms" (in its args, the node's
-- "wait") it becomes 'scheduled' for now() + timeout, when
-- flow.fire_due_timers (each fleet member, every second; else River's
-- scheduler, every 5 s) makes it available to htdag's flow.wait worker (Go: flow.WaitWorker), which fails it
-- or completes it with its "default"; without one it stays 'pending', which
-- River never fetches. Called by the release trigger (through
-- flow.start_special), by flow.insert_nodes for wait roots and by flow.retry.
-- The job's move to 'scheduled' is the engine's own (flow.in_trigger on for
-- it, so the runnable guard, which refuses hand-made releases of
-- special nodes, lets it through); it enters no final state, so the release
-- trigger has nothing to do for it.
CREATE OR REPLACE FUNCTION flow.park_waits(p_jobs bigint[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_prev text := current_setting('flow.in_trigger', true);
BEGIN
    PERFORM set_config('flow.in_trigger', 'on', true);
    UPDATE public.river_job j
       SET state = CASE WHEN j.args ? 'timeout_ms' THEN 'scheduled'::public.river_job_state
                        ELSE 'pending'::public.river_job_state END,
           scheduled_at = CASE WHEN j.args ? 'timeout_ms' THEN now() + (j.args ->> 'timeout_ms')::bigint * interval '1 millisecond'
                               ELSE j.scheduled_at END,
           metadata = j.metadata || jsonb_build_object('flow_waiting_since', now())
     WHERE j.id = ANY (p_jobs) AND j.state = 'pending' AND j.kind = 'flow.wait';
    PERFORM set_config('flow.in_trigger', coalesce(v_prev, 'off'), true);
END;
$$;
COMMENT ON FUNCTION flow.park_waits(bigint[]) IS 'Internal: parks released wait nodes until flow.signal (pending, or scheduled for their timeout).';
