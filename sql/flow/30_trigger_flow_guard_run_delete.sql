-- Row guard on flow.run (20_function_guard_run_delete.sql).
CREATE OR REPLACE TRIGGER flow_guard_run_delete
    BEFORE DELETE ON flow.run
    FOR EACH ROW
    WHEN (current_setting('flow.deleting_runs', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.guard_run_delete();

COMMENT ON TRIGGER flow_guard_run_delete ON flow.run IS 'htdag: refuses to delete a run outside flow.delete_finished_runs, which deletes its jobs too.';
