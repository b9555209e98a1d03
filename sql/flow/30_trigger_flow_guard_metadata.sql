-- Row guard (20_function_guard_metadata.sql): River's completer lists the
-- metadata column in every completion, so the WHEN clause alone (two key
-- comparisons) decides for those rows.
CREATE OR REPLACE TRIGGER flow_guard_metadata
    BEFORE UPDATE OF metadata ON public.river_job
    FOR EACH ROW
    WHEN (OLD.metadata ? 'flow_run'
          AND (NEW.metadata -> 'flow_run' IS DISTINCT FROM OLD.metadata -> 'flow_run'
               OR NEW.metadata -> 'flow_node' IS DISTINCT FROM OLD.metadata -> 'flow_node'))
    EXECUTE FUNCTION flow.guard_metadata();

COMMENT ON TRIGGER flow_guard_metadata ON public.river_job IS 'htdag: refuses to remove or change a flow job''s flow_run and flow_node metadata.';
