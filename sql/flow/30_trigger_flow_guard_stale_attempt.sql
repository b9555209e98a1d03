-- Row guard (20_function_guard_stale_attempt.sql). Only updates that take a
-- running flow job out of running while appending an error of an older
-- attempt reach it; everything else is decided by the WHEN clause alone.
CREATE OR REPLACE TRIGGER flow_guard_stale_attempt
    BEFORE UPDATE OF state ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state = 'running' AND NEW.state <> 'running'
          AND NEW.metadata ? 'flow_run'
          AND cardinality(NEW.errors) > coalesce(cardinality(OLD.errors), 0)
          AND (NEW.errors[cardinality(NEW.errors)] ->> 'attempt')::integer < OLD.attempt)
    EXECUTE FUNCTION flow.guard_stale_attempt();

COMMENT ON TRIGGER flow_guard_stale_attempt ON public.river_job IS 'htdag: skips a late write of a flow node''s lost attempt (a worker declared dead reporting after its node ran again).';
