-- An ingestion run fails with its flow run (a step that failed for good, a
-- cancel) instead of staying 'running' until the codebase's next ingestion;
-- a retried flow run revives it. See ingest/sql/20_function_fail_with_flow_run.sql.
CREATE INDEX run_running_flow_run ON ingest.run (flow_run_id) WHERE state = 'running';
COMMENT ON COLUMN ingest.run.state IS 'running until the index step commits (completed); failed as soon as its flow run fails or is cancelled (running again if that flow run is retried while this is the codebase''s latest run).';

-- ingest.fail_with_flow_run(): an ingestion run follows its flow run's end.
-- The index step completes an ingest run; any other end of the flow run (a
-- step that failed for good, a cancel) used to leave the ingest run
-- 'running' until the codebase's next ingestion noticed. Now it fails in the
-- transaction that fails the flow run. flow.retry revives the flow run, and
-- the ingest run with it, if it is still its codebase's latest run.
CREATE FUNCTION ingest.fail_with_flow_run() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.state IN ('failed', 'cancelled') THEN
        UPDATE ingest.run SET state = 'failed', finished_at = now()
         WHERE flow_run_id = NEW.id AND state = 'running';
    ELSE
        UPDATE ingest.run r SET state = 'running', finished_at = NULL
         WHERE r.flow_run_id = NEW.id AND r.state = 'failed'
           AND NOT EXISTS (SELECT 1 FROM ingest.run o WHERE o.codebase_id = r.codebase_id AND o.id > r.id)
           AND NOT EXISTS (SELECT 1 FROM ingest.run o WHERE o.codebase_id = r.codebase_id AND o.state = 'running');
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ingest.fail_with_flow_run() IS 'Trigger on flow.run: fails the ingest run of a flow run that failed or was cancelled, and revives it when the flow run is retried (if it is still its codebase''s latest run).';

-- On flow.run, the engine's table: only state changes to or from a failure
-- reach the function (the WHEN clause costs nothing for the others).
CREATE TRIGGER ingest_fail_with_flow_run
AFTER UPDATE OF state ON flow.run
FOR EACH ROW
WHEN (OLD.state IS DISTINCT FROM NEW.state
      AND (NEW.state IN ('failed', 'cancelled') OR (OLD.state IN ('failed', 'cancelled') AND NEW.state = 'running')))
EXECUTE FUNCTION ingest.fail_with_flow_run();

-- Runs left 'running' by flow runs that already ended.
UPDATE ingest.run r SET state = 'failed', finished_at = now()
 WHERE r.state = 'running'
   AND EXISTS (SELECT 1 FROM flow.run f WHERE f.id = r.flow_run_id AND f.state IN ('failed', 'cancelled'));

-- Nothing in the schema is callable by everyone: workers and `worker ingest`
-- connect as the schema's owner. Every migration that creates a function
-- ends with this file.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ingest FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ingest FROM PUBLIC;
