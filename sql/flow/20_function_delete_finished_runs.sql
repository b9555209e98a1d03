-- Retention: deletes whole trees of runs that finished more than p_older_than
-- ago, whatever their state, at most p_limit top runs per call (see
-- flow.delete_finished_runs_by_state, which does the work).
CREATE OR REPLACE FUNCTION flow.delete_finished_runs(p_older_than interval, p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql -- not sql: its body is checked at creation, before the function it calls exists
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN flow.delete_finished_runs_by_state(p_older_than, p_older_than, p_limit);
END;
$$;
COMMENT ON FUNCTION flow.delete_finished_runs(interval, integer) IS 'Deletes finished runs older than the given age whole (jobs, nodes, run rows), up to a batch; returns how many.';
