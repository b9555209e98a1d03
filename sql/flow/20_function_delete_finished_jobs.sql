-- Retention of plain River jobs (not flow nodes): deletes, at most p_limit at
-- a time, completed, cancelled and discarded jobs finalized longer ago than
-- their state's period (NULL: keep them). htdag's workers turn River's own
-- cleaner off and call this instead (`worker run`, every minute, with River's
-- periods: 24 h, 24 h, 7 days): River's cleaner works through finalized jobs
-- in id order and ends a pass when a batch comes back short, so flow jobs
-- that runs keep whole (flow_keep_run_jobs) stopped it cleaning the jobs
-- behind them, for good when a run never finishes. This query never looks at
-- flow jobs. Concurrent callers skip each other's rows.
CREATE OR REPLACE FUNCTION flow.delete_finished_jobs(p_completed interval, p_cancelled interval, p_discarded interval,
                                                     p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM public.river_job
     WHERE id IN (SELECT j.id FROM public.river_job j
                   WHERE ((j.state = 'completed' AND j.finalized_at < now() - p_completed)
                          OR (j.state = 'cancelled' AND j.finalized_at < now() - p_cancelled)
                          OR (j.state = 'discarded' AND j.finalized_at < now() - p_discarded))
                     AND NOT j.metadata ? 'flow_run'
                   ORDER BY j.id
                   LIMIT p_limit
                     FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END;
$$;

COMMENT ON FUNCTION flow.delete_finished_jobs(interval, interval, interval, integer) IS 'Deletes finished plain River jobs (not flow nodes) older than their state''s retention; returns how many.';
