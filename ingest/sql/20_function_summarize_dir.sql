-- ingest.summarize_dir(run, dir): the summary step of one directory. Records
-- and returns the directory's counts over its current files.
CREATE FUNCTION ingest.summarize_dir(p_run_id bigint, p_dir text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row ingest.dir_summary;
BEGIN
    WITH f AS (
        SELECT rf.status, v.language, v.lines, v.symbols
          FROM ingest.run_file rf
          LEFT JOIN ingest.file_version v ON v.id = rf.version_id
         WHERE rf.run_id = p_run_id AND rf.dir = p_dir
    ), cur AS (
        SELECT * FROM f WHERE status IN ('added', 'modified', 'unchanged')
    ), lang AS (
        SELECT language, jsonb_build_object('files', count(*), 'lines', sum(lines), 'symbols', sum(symbols)) AS counts
          FROM cur GROUP BY language
    )
    INSERT INTO ingest.dir_summary AS d (run_id, dir, files, lines, symbols, added, modified, unchanged, removed, skipped, languages)
    SELECT p_run_id, p_dir,
           (SELECT count(*) FROM cur), (SELECT coalesce(sum(lines), 0) FROM cur), (SELECT coalesce(sum(symbols), 0) FROM cur),
           (SELECT count(*) FROM f WHERE status = 'added'), (SELECT count(*) FROM f WHERE status = 'modified'),
           (SELECT count(*) FROM f WHERE status = 'unchanged'), (SELECT count(*) FROM f WHERE status = 'removed'),
           (SELECT count(*) FROM f WHERE status = 'skipped'),
           coalesce((SELECT jsonb_object_agg(language, counts) FROM lang), '{}')
    ON CONFLICT (run_id, dir) DO UPDATE
       SET files = excluded.files, lines = excluded.lines, symbols = excluded.symbols,
           added = excluded.added, modified = excluded.modified, unchanged = excluded.unchanged,
           removed = excluded.removed, skipped = excluded.skipped, languages = excluded.languages
    RETURNING * INTO v_row;
    RETURN to_jsonb(v_row);
END;
$$;
COMMENT ON FUNCTION ingest.summarize_dir(bigint, text) IS 'The summary step of a directory: records its counts by language, lines and symbols in ingest.dir_summary and returns them.';
