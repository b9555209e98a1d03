-- Guard: runs are deleted whole, with their jobs, by
-- flow.delete_finished_runs (which sets flow.deleting_runs). A plain DELETE
-- FROM flow.run would leave the run's jobs behind, orphans that no check or
-- retention sees.
CREATE OR REPLACE FUNCTION flow.guard_run_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'htdag: run % is deleted whole, with its jobs, by flow.delete_finished_runs; a DELETE would leave its jobs behind', OLD.id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'cancel it first if it is unfinished (flow.cancel), then let retention delete it, or call flow.delete_finished_runs';
END;
$$;

COMMENT ON FUNCTION flow.guard_run_delete() IS 'Refuses DELETE FROM flow.run outside flow.delete_finished_runs.';
