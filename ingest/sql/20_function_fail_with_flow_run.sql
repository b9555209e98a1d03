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
