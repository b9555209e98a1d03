CREATE VIEW ingest.file_history AS
SELECT r.codebase_id AS codebase, rf.path, rf.run_id, r.started_at, rf.status, rf.reason,
       v.hash, v.lines, v.symbols, rf.lines_added, rf.lines_removed, rf.symbols_added, rf.symbols_removed, rf.version_id
  FROM ingest.run_file rf
  JOIN ingest.run r ON r.id = rf.run_id
  LEFT JOIN ingest.file_version v ON v.id = rf.version_id
 WHERE rf.status IN ('added', 'modified', 'removed');
COMMENT ON VIEW ingest.file_history IS 'Each change of each file, run by run: added, modified (lines and symbols added and removed) and removed. Filter on codebase and path, order by run_id.';
