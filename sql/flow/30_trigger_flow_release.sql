-- The release trigger: once per statement that updates river_job (see
-- 20_function_on_river_job_update.sql). River's fetches fire it too; they
-- leave at its first check.
CREATE OR REPLACE TRIGGER flow_release
    AFTER UPDATE ON public.river_job
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT
    EXECUTE FUNCTION flow.on_river_job_update();
COMMENT ON TRIGGER flow_release ON public.river_job IS 'htdag: releases children of completed flow nodes, cancels below failed ones, keeps flow.run current (flow.on_river_job_update).';
