-- Keeps runs whole against River's cleaner (20_function_keep_run_jobs.sql),
-- except inside flow.delete_finished_runs.
CREATE OR REPLACE TRIGGER flow_keep_run_jobs
    BEFORE DELETE ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state IN ('completed', 'cancelled', 'discarded') AND OLD.metadata ? 'flow_run'
          AND current_setting('flow.deleting_runs', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.keep_run_jobs();
COMMENT ON TRIGGER flow_keep_run_jobs ON public.river_job IS 'htdag: skips deleting finished flow jobs; runs are deleted whole by flow.delete_finished_runs.';
