CREATE VIEW ingest.runs AS
SELECT r.id, r.codebase_id AS codebase, r.root,
       CASE WHEN r.state = 'running' AND f.state IN ('failed', 'cancelled') THEN 'failed' ELSE r.state END AS state,
       r.flow_run_id, r.started_at, r.finished_at, r.finished_at - r.started_at AS duration,
       r.files_planned, r.added, r.modified, r.unchanged, r.removed, r.skipped,
       r.lines_added, r.lines_removed, r.symbols_added, r.symbols_removed,
       r.files, r.lines, r.symbols
  FROM ingest.run r
  LEFT JOIN flow.run f ON f.id = r.flow_run_id;
COMMENT ON VIEW ingest.runs IS 'Ingestion runs with their counters; state is failed as soon as the flow run has failed or been cancelled.';
