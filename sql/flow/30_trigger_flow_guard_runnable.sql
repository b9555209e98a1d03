-- Row guard (20_function_guard_runnable.sql). Its WHEN clause skips every
-- ordinary transition, so River's fetches and completions pay nothing for it.
-- It also catches a pending node completed by hand (only the trigger, with
-- flow.in_trigger set, finishes pending nodes), and looks at the old
-- metadata, so that removing "flow_run" in the same UPDATE does not slip by.
CREATE OR REPLACE TRIGGER flow_guard_runnable
    BEFORE UPDATE OF state ON public.river_job
    FOR EACH ROW
    WHEN (((OLD.state IN ('pending', 'completed', 'cancelled', 'discarded')
            AND NEW.state IN ('available', 'scheduled', 'running', 'retryable'))
           OR (OLD.state = 'pending' AND NEW.state = 'completed'))
          AND OLD.metadata ? 'flow_run'
          AND current_setting('flow.in_trigger', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.guard_runnable();
COMMENT ON TRIGGER flow_guard_runnable ON public.river_job IS 'htdag: refuses to make a flow node runnable, or complete it, while a parent has not completed.';
