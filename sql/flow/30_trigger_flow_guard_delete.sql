-- Row guard (20_function_guard_delete.sql); River's cleaner deletes only
-- finished jobs, which the WHEN clause skips.
CREATE OR REPLACE TRIGGER flow_guard_delete
    BEFORE DELETE ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state NOT IN ('completed', 'cancelled', 'discarded') AND OLD.metadata ? 'flow_run')
    EXECUTE FUNCTION flow.guard_delete();
COMMENT ON TRIGGER flow_guard_delete ON public.river_job IS 'htdag: refuses to delete the job of an unfinished flow node.';
