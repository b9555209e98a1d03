-- Row guard (20_function_guard_parked.sql): only hand-made finishes of a
-- pending flow job reach it.
CREATE OR REPLACE TRIGGER flow_guard_parked
    BEFORE UPDATE OF state ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state = 'pending' AND NEW.state IN ('completed', 'cancelled', 'discarded')
          AND OLD.metadata ? 'flow_run'
          AND current_setting('flow.in_trigger', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.guard_parked();
COMMENT ON TRIGGER flow_guard_parked ON public.river_job IS 'htdag: refuses to finish by hand a node that waits for a running child run.';
