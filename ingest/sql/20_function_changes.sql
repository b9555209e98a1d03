-- ingest.changes(codebase, from_run, to_run): how the codebase's files differ
-- between the state after run from_run and the state after run to_run.
CREATE FUNCTION ingest.changes(p_codebase text, p_from_run bigint, p_to_run bigint)
RETURNS TABLE (path text, change text, lines_before integer, lines_after integer,
               symbols_added text[], symbols_removed text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH snap AS (
        SELECT f.path, v.id, v.hash, v.lines,
               (v.run_id <= p_from_run AND (v.until_run_id IS NULL OR v.until_run_id > p_from_run)) AS at_from,
               (v.run_id <= p_to_run AND (v.until_run_id IS NULL OR v.until_run_id > p_to_run)) AS at_to
          FROM ingest.file f JOIN ingest.file_version v ON v.file_id = f.id
         WHERE f.codebase_id = p_codebase
    ), a AS (SELECT * FROM snap WHERE at_from), b AS (SELECT * FROM snap WHERE at_to)
    SELECT coalesce(a.path, b.path),
           CASE WHEN a.id IS NULL THEN 'added' WHEN b.id IS NULL THEN 'removed' ELSE 'modified' END,
           a.lines, b.lines,
           coalesce(ARRAY(SELECT key FROM ingest.symbol WHERE version_id = b.id
                          EXCEPT SELECT key FROM ingest.symbol WHERE version_id = a.id ORDER BY 1), '{}'),
           coalesce(ARRAY(SELECT key FROM ingest.symbol WHERE version_id = a.id
                          EXCEPT SELECT key FROM ingest.symbol WHERE version_id = b.id ORDER BY 1), '{}')
      FROM a FULL JOIN b ON a.path = b.path
     WHERE a.id IS DISTINCT FROM b.id AND (a.hash IS DISTINCT FROM b.hash)
     ORDER BY 1
$$;
COMMENT ON FUNCTION ingest.changes(text, bigint, bigint) IS 'Files that differ between the codebase as of run from_run and as of run to_run: added, removed or modified, with symbols added and removed.';
