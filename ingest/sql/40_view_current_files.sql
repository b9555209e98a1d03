CREATE VIEW ingest.current_files AS
SELECT f.codebase_id AS codebase, f.path, ingest.dir_of(f.path) AS dir, v.id AS version_id, v.run_id,
       v.language, v.package, v.size, v.lines, v.symbols, v.hash, v.parse_error
  FROM ingest.file f
  JOIN ingest.file_version v ON v.file_id = f.id AND v.until_run_id IS NULL;
COMMENT ON VIEW ingest.current_files IS 'Every file of every codebase as of its latest run: its current version.';
