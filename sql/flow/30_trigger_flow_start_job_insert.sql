-- The River door's stamp (20_function_on_start_job_insert.sql): only jobs of
-- kind flow.start reach it.
CREATE OR REPLACE TRIGGER flow_start_job_insert
    BEFORE INSERT ON public.river_job
    FOR EACH ROW
    WHEN (NEW.kind = 'flow.start')
    EXECUTE FUNCTION flow.on_start_job_insert();

COMMENT ON TRIGGER flow_start_job_insert ON public.river_job IS 'htdag: stamps flow.start jobs with the role that inserted them and refuses oversized specs.';
