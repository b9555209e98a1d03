-- On flow.run, the engine's table: only state changes to or from a failure
-- reach the function (the WHEN clause costs nothing for the others).
CREATE TRIGGER ingest_fail_with_flow_run
AFTER UPDATE OF state ON flow.run
FOR EACH ROW
WHEN (OLD.state IS DISTINCT FROM NEW.state
      AND (NEW.state IN ('failed', 'cancelled') OR (OLD.state IN ('failed', 'cancelled') AND NEW.state = 'running')))
EXECUTE FUNCTION ingest.fail_with_flow_run();
