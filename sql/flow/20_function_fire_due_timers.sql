-- Timers: every live worker calls this about once a second (Go: the rescue
-- tick of flow.JoinFleet). It makes htdag's own timer jobs that are due
-- available at once and wakes the producers of their queues: the deadline
-- jobs of runs (flow.run_deadline) and the timeouts of wait nodes
-- (flow.wait). River's own scheduler would do it too, but only on its
-- leader and every 5 s (not configurable), so a 2 s deadline could fire 7 s
-- late. Jobs another worker is moving are skipped (SKIP LOCKED). Returns how
-- many jobs it made available.
CREATE OR REPLACE FUNCTION flow.fire_due_timers() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_n      integer;
    v_queues text[];
BEGIN
    WITH due AS (
        SELECT j.id FROM public.river_job j
         WHERE j.state = 'scheduled' AND j.kind IN ('flow.run_deadline', 'flow.wait') AND j.scheduled_at <= now()
         ORDER BY j.id
           FOR UPDATE SKIP LOCKED
    ), made AS (
        UPDATE public.river_job j SET state = 'available'
          FROM due WHERE j.id = due.id
        RETURNING j.queue
    )
    SELECT count(*), array_agg(DISTINCT queue) INTO v_n, v_queues FROM made;
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text) FROM unnest(v_queues) AS q;
    RETURN v_n;
END;
$$;
COMMENT ON FUNCTION flow.fire_due_timers() IS 'Internal (every worker, each second): makes due run deadline and wait timeout jobs available and wakes their queues.';
