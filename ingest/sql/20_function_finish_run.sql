-- ingest.finish_run(run): the index step. Ends the current version of every
-- file of the codebase that this run did not walk (deleted, or now in a
-- pruned directory), records those as removed, sets the run's counters,
-- completes it and announces it on ingest_indexed. Returns the counters.
-- Calling it again for a completed run returns the counters and changes
-- nothing.
CREATE FUNCTION ingest.finish_run(p_run_id bigint) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run ingest.run;
    v_out jsonb;
BEGIN
    SELECT * INTO v_run FROM ingest.run WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ingest: run % does not exist', p_run_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_run.state = 'running' THEN
        WITH gone AS (
            UPDATE ingest.file_version v
               SET until_run_id = p_run_id
              FROM ingest.file f
             WHERE v.file_id = f.id
               AND f.codebase_id = v_run.codebase_id
               AND v.until_run_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM ingest.run_file rf WHERE rf.run_id = p_run_id AND rf.path = f.path)
            RETURNING v.id, f.path, v.lines
        )
        INSERT INTO ingest.run_file (run_id, path, dir, status, reason, version_id, lines_removed, symbols_removed)
        SELECT p_run_id, g.path, ingest.dir_of(g.path), 'removed', 'no longer in the tree', g.id, g.lines,
               coalesce((SELECT array_agg(s.key ORDER BY s.ordinal) FROM ingest.symbol s WHERE s.version_id = g.id), '{}')
          FROM gone g;

        UPDATE ingest.run r
           SET state = 'completed',
               finished_at = now(),
               added = c.added, modified = c.modified, unchanged = c.unchanged, removed = c.removed, skipped = c.skipped,
               lines_added = c.lines_added, lines_removed = c.lines_removed,
               symbols_added = c.symbols_added, symbols_removed = c.symbols_removed,
               files = t.files, lines = t.lines, symbols = t.symbols
          FROM (SELECT count(*) FILTER (WHERE status = 'added') AS added,
                       coalesce(sum(lines_added), 0) AS lines_added, coalesce(sum(lines_removed), 0) AS lines_removed,
                       coalesce(sum(cardinality(symbols_added)), 0) AS symbols_added,
                       coalesce(sum(cardinality(symbols_removed)), 0) AS symbols_removed,
                       count(*) FILTER (WHERE status = 'modified') AS modified,
                       count(*) FILTER (WHERE status = 'unchanged') AS unchanged,
                       count(*) FILTER (WHERE status = 'removed') AS removed,
                       count(*) FILTER (WHERE status = 'skipped') AS skipped
                  FROM ingest.run_file WHERE run_id = p_run_id) c,
               (SELECT count(*) AS files, coalesce(sum(v.lines), 0) AS lines, coalesce(sum(v.symbols), 0) AS symbols
                  FROM ingest.file f JOIN ingest.file_version v ON v.file_id = f.id AND v.until_run_id IS NULL
                 WHERE f.codebase_id = v_run.codebase_id) t
         WHERE r.id = p_run_id
        RETURNING r.* INTO v_run;
    END IF;
    v_out := jsonb_build_object(
        'run', v_run.id, 'codebase', v_run.codebase_id, 'state', v_run.state,
        'files', v_run.files, 'lines', v_run.lines, 'symbols', v_run.symbols,
        'added', v_run.added, 'modified', v_run.modified, 'unchanged', v_run.unchanged,
        'removed', v_run.removed, 'skipped', v_run.skipped,
        'lines_added', v_run.lines_added, 'lines_removed', v_run.lines_removed,
        'symbols_added', v_run.symbols_added, 'symbols_removed', v_run.symbols_removed);
    IF v_run.state = 'completed' AND v_run.finished_at = now() THEN
        PERFORM pg_notify('ingest_indexed', v_out::text);
    END IF;
    RETURN v_out;
END;
$$;
COMMENT ON FUNCTION ingest.finish_run(bigint) IS 'The index step: records files gone since the last run as removed, sets the run''s counters, completes it and sends NOTIFY ingest_indexed. Idempotent.';
