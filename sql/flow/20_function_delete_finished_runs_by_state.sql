-- Retention by state: deletes whole trees of runs that finished long enough ago (top
-- runs whose every run has finished), at most p_limit top runs per call, with
-- their jobs, nodes and child runs. A tree whose top run completed goes
-- p_completed_older_than after it finished; one whose top run failed or was
-- cancelled goes p_failed_older_than after (a NULL age keeps those trees),
-- so that failures can be kept longer for the people who look into them.
-- Concurrent callers skip each other's runs (SKIP LOCKED). `worker run
-- --run-retention/--run-retention-failed` calls it every minute;
-- flow.keep_run_jobs lets these deletes through (flow.deleting_runs).
CREATE OR REPLACE FUNCTION flow.delete_finished_runs_by_state(p_completed_older_than interval, p_failed_older_than interval, p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_runs bigint[];
BEGIN
    SELECT array_agg(id) INTO v_runs
      FROM (SELECT r.id FROM flow.run r
             WHERE r.parent_run_id IS NULL
               AND ((r.state = 'completed' AND r.finished_at < now() - p_completed_older_than)
                    OR (r.state IN ('failed', 'cancelled') AND r.finished_at < now() - p_failed_older_than))
               AND NOT EXISTS (SELECT 1 FROM flow.run d WHERE d.root_run_id = r.id AND d.state IN ('pending', 'running'))
             ORDER BY r.id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED) s;
    IF v_runs IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('flow.deleting_runs', 'on', true);
    DELETE FROM public.river_job
     WHERE id IN (SELECT n.job_id FROM flow.node n
                   WHERE n.run_id IN (SELECT r.id FROM flow.run r WHERE r.id = ANY (v_runs) OR r.root_run_id = ANY (v_runs)));
    DELETE FROM flow.run WHERE id = ANY (v_runs); -- child runs and flow.node rows go with them (ON DELETE CASCADE)
    PERFORM set_config('flow.deleting_runs', 'off', true);
    RETURN cardinality(v_runs);
END;
$$;
COMMENT ON FUNCTION flow.delete_finished_runs_by_state(interval, interval, integer) IS 'Deletes whole finished runs: completed ones older than the first age, failed or cancelled ones older than the second (NULL: kept), up to a batch; returns how many.';
