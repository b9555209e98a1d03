-- The code-ingestion workflow's tables (`worker ingest`, package jobs/ingest),
-- in a schema of their own.
--
-- A codebase is ingested by runs. Every content of a file that a run stored
-- is a file version, kept with its sha256; a version is current from the run
-- that stored it until the run that replaced or removed it (until_run_id).
-- ingest.run_file says, per run and per file walked, what happened to it
-- (added, modified, unchanged, removed, skipped) and what changed (lines and
-- symbols added and removed); the index step adds a 'removed' row for every
-- file that was current and is no longer in the tree.
--
-- Channels: ingest_progress (one notification per file a run has finished
-- with, and one when the run's plan is known) and ingest_indexed (once per run,
-- when its index step commits). Payloads are described in docs/INGEST.md.
CREATE SCHEMA ingest;
COMMENT ON SCHEMA ingest IS 'Code ingestion (worker ingest): codebases, runs, file versions, symbols, chunks and what changed per run.';

CREATE TABLE ingest.codebase (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200 AND id !~ '^\s|\s$'),
    root       text NOT NULL CHECK (root LIKE '/%'),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ingest.codebase IS 'One row per codebase ingested (worker ingest DIR --codebase ID).';
COMMENT ON COLUMN ingest.codebase.id IS 'The codebase id: --codebase, by default the absolute path of DIR.';
COMMENT ON COLUMN ingest.codebase.root IS 'Absolute path of the directory last ingested under this id.';

CREATE TABLE ingest.run (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    codebase_id   text NOT NULL REFERENCES ingest.codebase ON DELETE CASCADE,
    root          text NOT NULL CHECK (root LIKE '/%'),
    flow_run_id   bigint,
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'failed')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    files_planned integer CHECK (files_planned >= 0),
    dirs_planned  integer CHECK (dirs_planned >= 0),
    pruned        jsonb,
    added         integer CHECK (added >= 0),
    modified      integer CHECK (modified >= 0),
    unchanged     integer CHECK (unchanged >= 0),
    removed       integer CHECK (removed >= 0),
    skipped       integer CHECK (skipped >= 0),
    files         integer CHECK (files >= 0),
    lines         bigint CHECK (lines >= 0),
    symbols       bigint CHECK (symbols >= 0),
    lines_added     bigint CHECK (lines_added >= 0),
    lines_removed   bigint CHECK (lines_removed >= 0),
    symbols_added   bigint CHECK (symbols_added >= 0),
    symbols_removed bigint CHECK (symbols_removed >= 0),
    CHECK ((state = 'running') = (finished_at IS NULL)),
    CHECK (state <> 'completed' OR (added IS NOT NULL AND modified IS NOT NULL AND unchanged IS NOT NULL
                                    AND removed IS NOT NULL AND skipped IS NOT NULL AND files IS NOT NULL))
);
-- One ingestion at a time per codebase: two would race on its versions.
CREATE UNIQUE INDEX run_one_running_per_codebase ON ingest.run (codebase_id) WHERE state = 'running';
CREATE INDEX run_codebase ON ingest.run (codebase_id, id);
COMMENT ON TABLE ingest.run IS 'One row per ingestion of a codebase. Counters are set by the index step when the run completes.';
COMMENT ON COLUMN ingest.run.flow_run_id IS 'The htdag run (flow.run) doing the work; not a foreign key, as finished flow runs are deleted by retention.';
COMMENT ON COLUMN ingest.run.state IS 'running until the index step commits (completed); failed when a later ingestion found its flow run ended without indexing.';
COMMENT ON COLUMN ingest.run.files_planned IS 'Files the walk gave a per-file chain to (the progress total).';
COMMENT ON COLUMN ingest.run.dirs_planned IS 'Directories the walk gave a sub-workflow to.';
COMMENT ON COLUMN ingest.run.pruned IS 'Directories the walk did not enter ({"path": "reason"}): .git, vendor folders, directories ignored by a .gitignore.';
COMMENT ON COLUMN ingest.run.added IS 'Files stored for the first time (or again after a removal).';
COMMENT ON COLUMN ingest.run.modified IS 'Files whose content changed and were stored again.';
COMMENT ON COLUMN ingest.run.unchanged IS 'Files whose content hash matched their current version (not parsed again).';
COMMENT ON COLUMN ingest.run.removed IS 'Files that were current and are gone from the tree or no longer valid.';
COMMENT ON COLUMN ingest.run.skipped IS 'Files walked but not stored (not a regular file, too large, extension, binary, empty, ignored).';
COMMENT ON COLUMN ingest.run.files IS 'Current files of the codebase after this run.';
COMMENT ON COLUMN ingest.run.lines IS 'Lines of the current files after this run.';
COMMENT ON COLUMN ingest.run.symbols IS 'Symbols of the current files after this run.';
COMMENT ON COLUMN ingest.run.lines_added IS 'Lines added over every file this run added or modified.';
COMMENT ON COLUMN ingest.run.lines_removed IS 'Lines removed over every file this run modified or removed.';
COMMENT ON COLUMN ingest.run.symbols_added IS 'Symbols added over every file this run added or modified.';
COMMENT ON COLUMN ingest.run.symbols_removed IS 'Symbols removed over every file this run modified or removed.';

CREATE TABLE ingest.file (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    codebase_id text NOT NULL REFERENCES ingest.codebase ON DELETE CASCADE,
    path        text NOT NULL CHECK (path <> '' AND path !~ '^/' AND path !~ '(^|/)\.\.?(/|$)'),
    UNIQUE (codebase_id, path)
);
COMMENT ON TABLE ingest.file IS 'A path of a codebase that some run stored; its contents are its versions.';
COMMENT ON COLUMN ingest.file.path IS 'Slash-separated path relative to the codebase root.';

CREATE TABLE ingest.file_version (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id      bigint NOT NULL REFERENCES ingest.file ON DELETE CASCADE,
    run_id       bigint NOT NULL REFERENCES ingest.run ON DELETE CASCADE,
    until_run_id bigint REFERENCES ingest.run ON DELETE SET NULL,
    hash         text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    size         bigint NOT NULL CHECK (size > 0),
    lines        integer NOT NULL CHECK (lines > 0),
    language     text NOT NULL CHECK (language <> ''),
    package      text,
    imports      text[] NOT NULL DEFAULT '{}',
    symbols      integer NOT NULL DEFAULT 0 CHECK (symbols >= 0),
    parse_error  text,
    content      text NOT NULL,
    CHECK (until_run_id IS NULL OR until_run_id > run_id),
    CHECK (octet_length(content) = size)
);
CREATE UNIQUE INDEX file_version_one_current ON ingest.file_version (file_id) WHERE until_run_id IS NULL;
CREATE UNIQUE INDEX file_version_per_run ON ingest.file_version (file_id, run_id);
CREATE INDEX file_version_run ON ingest.file_version (run_id);
COMMENT ON TABLE ingest.file_version IS 'Every content of a file that a run stored. Current from run_id until until_run_id (NULL: current now).';
COMMENT ON COLUMN ingest.file_version.run_id IS 'The run that stored this version.';
COMMENT ON COLUMN ingest.file_version.until_run_id IS 'The run that replaced or removed this version; NULL while it is current.';
COMMENT ON COLUMN ingest.file_version.hash IS 'sha256 of the content, hex: a file is parsed again only when it changes.';
COMMENT ON COLUMN ingest.file_version.lines IS 'Number of lines (a last line without a newline counts).';
COMMENT ON COLUMN ingest.file_version.language IS 'Language detected from the name: go, python, javascript, sql, markdown, ...';
COMMENT ON COLUMN ingest.file_version.package IS 'Go: the package clause. NULL for other languages.';
COMMENT ON COLUMN ingest.file_version.imports IS 'Go: the imported paths, in order.';
COMMENT ON COLUMN ingest.file_version.symbols IS 'Number of rows in ingest.symbol for this version.';
COMMENT ON COLUMN ingest.file_version.parse_error IS 'Why parsing failed (the file is still stored, with the symbols found before the error, if any).';

CREATE TABLE ingest.symbol (
    version_id bigint NOT NULL REFERENCES ingest.file_version ON DELETE CASCADE,
    ordinal    integer NOT NULL CHECK (ordinal >= 1),
    kind       text NOT NULL CHECK (kind ~ '^[a-z_]+$'),
    name       text NOT NULL CHECK (name <> ''),
    parent     text CHECK (parent <> ''),
    start_line integer NOT NULL CHECK (start_line >= 1),
    end_line   integer NOT NULL,
    key        text GENERATED ALWAYS AS (kind || ' ' || CASE WHEN parent IS NULL THEN name ELSE parent || '.' || name END) STORED,
    PRIMARY KEY (version_id, ordinal),
    CHECK (end_line >= start_line)
);
CREATE INDEX symbol_name ON ingest.symbol (name);
COMMENT ON TABLE ingest.symbol IS 'Definitions found in a file version: Go functions, methods, types, constants and variables (go/parser); top-level definitions of other languages.';
COMMENT ON COLUMN ingest.symbol.kind IS 'func, method, type, const, var (Go); function, class, struct, table, view, section, ... (others).';
COMMENT ON COLUMN ingest.symbol.parent IS 'Go methods: the receiver type (*T or T).';
COMMENT ON COLUMN ingest.symbol.key IS 'kind, parent and name: what "symbols added and removed" compare.';

CREATE TABLE ingest.chunk (
    version_id bigint NOT NULL REFERENCES ingest.file_version ON DELETE CASCADE,
    ordinal    integer NOT NULL CHECK (ordinal >= 1),
    start_line integer NOT NULL CHECK (start_line >= 1),
    end_line   integer NOT NULL,
    symbol     text,
    content    text NOT NULL CHECK (content <> ''),
    PRIMARY KEY (version_id, ordinal),
    CHECK (end_line >= start_line)
);
COMMENT ON TABLE ingest.chunk IS 'A file version split along its top-level definitions, each piece at most a size cap (a longer definition is split at line boundaries).';
COMMENT ON COLUMN ingest.chunk.symbol IS 'The definition the chunk belongs to (kind and name), NULL for text between definitions.';

CREATE TABLE ingest.run_file (
    run_id          bigint NOT NULL REFERENCES ingest.run ON DELETE CASCADE,
    path            text NOT NULL,
    dir             text NOT NULL,
    status          text NOT NULL CHECK (status IN ('added', 'modified', 'unchanged', 'removed', 'skipped')),
    reason          text,
    version_id      bigint REFERENCES ingest.file_version ON DELETE CASCADE,
    lines_added     integer NOT NULL DEFAULT 0 CHECK (lines_added >= 0),
    lines_removed   integer NOT NULL DEFAULT 0 CHECK (lines_removed >= 0),
    symbols_added   text[] NOT NULL DEFAULT '{}',
    symbols_removed text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, path),
    CHECK ((status = 'skipped') = (reason IS NOT NULL AND version_id IS NULL)),
    CHECK (status = 'skipped' OR version_id IS NOT NULL),
    CHECK (status IN ('added', 'modified', 'removed') OR (lines_added = 0 AND lines_removed = 0
                                                          AND symbols_added = '{}' AND symbols_removed = '{}'))
);
CREATE INDEX run_file_dir ON ingest.run_file (run_id, dir);
COMMENT ON TABLE ingest.run_file IS 'What a run did with each file: one row per file walked, plus a removed row per file gone since the run before.';
COMMENT ON COLUMN ingest.run_file.dir IS 'The directory of path ("." for the root).';
COMMENT ON COLUMN ingest.run_file.status IS 'added, modified, unchanged (same hash: not parsed), removed (its current version ended), skipped (walked, never stored).';
COMMENT ON COLUMN ingest.run_file.reason IS 'Why a file was skipped or removed.';
COMMENT ON COLUMN ingest.run_file.version_id IS 'added, modified: the version stored; unchanged: the current version; removed: the version that ended.';
COMMENT ON COLUMN ingest.run_file.lines_added IS 'Lines added since the previous version (a line diff; all lines when added).';
COMMENT ON COLUMN ingest.run_file.lines_removed IS 'Lines removed since the previous version (all lines when removed).';
COMMENT ON COLUMN ingest.run_file.symbols_added IS 'Symbol keys (ingest.symbol.key) in this version and not in the previous one.';
COMMENT ON COLUMN ingest.run_file.symbols_removed IS 'Symbol keys in the previous version and not in this one.';

CREATE TABLE ingest.dir_summary (
    run_id    bigint NOT NULL REFERENCES ingest.run ON DELETE CASCADE,
    dir       text NOT NULL,
    files     integer NOT NULL CHECK (files >= 0),
    lines     bigint NOT NULL CHECK (lines >= 0),
    symbols   bigint NOT NULL CHECK (symbols >= 0),
    added     integer NOT NULL CHECK (added >= 0),
    modified  integer NOT NULL CHECK (modified >= 0),
    unchanged integer NOT NULL CHECK (unchanged >= 0),
    removed   integer NOT NULL CHECK (removed >= 0),
    skipped   integer NOT NULL CHECK (skipped >= 0),
    languages jsonb NOT NULL,
    PRIMARY KEY (run_id, dir)
);
COMMENT ON TABLE ingest.dir_summary IS 'Per run and directory walked: its current files by language, lines and symbols (the summary step).';
COMMENT ON COLUMN ingest.dir_summary.languages IS '{"go": {"files": N, "lines": N, "symbols": N}, ...} over the directory''s current files.';

-- ingest.dir_of(path): the directory part of a relative path, '.' at the root.
CREATE FUNCTION ingest.dir_of(p_path text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN strpos(p_path, '/') = 0 THEN '.' ELSE regexp_replace(p_path, '/[^/]*$', '') END $$;
COMMENT ON FUNCTION ingest.dir_of(text) IS 'The directory of a relative path, ''.'' for a file at the root.';

-- ingest.begin_run(codebase, root): records a new run of a codebase and
-- returns its id. A run still in progress for the codebase is refused
-- (55006); one whose flow run has ended without indexing is marked failed
-- first. Call it in the transaction that starts the flow run and set
-- flow_run_id there too.
CREATE FUNCTION ingest.begin_run(p_codebase text, p_root text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_busy ingest.run;
    v_id   bigint;
BEGIN
    INSERT INTO ingest.codebase AS c (id, root) VALUES (p_codebase, p_root)
    ON CONFLICT (id) DO UPDATE SET root = excluded.root;
    -- Serialise begins per codebase.
    PERFORM 1 FROM ingest.codebase WHERE id = p_codebase FOR UPDATE;

    UPDATE ingest.run r
       SET state = 'failed', finished_at = now()
     WHERE r.codebase_id = p_codebase
       AND r.state = 'running'
       AND NOT EXISTS (SELECT 1 FROM flow.run f WHERE f.id = r.flow_run_id AND f.state IN ('pending', 'running'));

    SELECT * INTO v_busy FROM ingest.run WHERE codebase_id = p_codebase AND state = 'running';
    IF FOUND THEN
        RAISE EXCEPTION 'ingest: codebase % is being ingested by run % (flow run %)', p_codebase, v_busy.id, v_busy.flow_run_id
            USING ERRCODE = 'object_in_use',
                  HINT = 'wait for it (worker wait FLOW_RUN_ID), or cancel it (worker cancel FLOW_RUN_ID)';
    END IF;

    INSERT INTO ingest.run (codebase_id, root) VALUES (p_codebase, p_root) RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION ingest.begin_run(text, text) IS 'Records a new ingestion run of a codebase (creating the codebase) and returns its id; refuses (55006) while another is in progress.';

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

CREATE VIEW ingest.current_files AS
SELECT f.codebase_id AS codebase, f.path, ingest.dir_of(f.path) AS dir, v.id AS version_id, v.run_id,
       v.language, v.package, v.size, v.lines, v.symbols, v.hash, v.parse_error
  FROM ingest.file f
  JOIN ingest.file_version v ON v.file_id = f.id AND v.until_run_id IS NULL;
COMMENT ON VIEW ingest.current_files IS 'Every file of every codebase as of its latest run: its current version.';

CREATE VIEW ingest.file_history AS
SELECT r.codebase_id AS codebase, rf.path, rf.run_id, r.started_at, rf.status, rf.reason,
       v.hash, v.lines, v.symbols, rf.lines_added, rf.lines_removed, rf.symbols_added, rf.symbols_removed, rf.version_id
  FROM ingest.run_file rf
  JOIN ingest.run r ON r.id = rf.run_id
  LEFT JOIN ingest.file_version v ON v.id = rf.version_id
 WHERE rf.status IN ('added', 'modified', 'removed');
COMMENT ON VIEW ingest.file_history IS 'Each change of each file, run by run: added, modified (lines and symbols added and removed) and removed. Filter on codebase and path, order by run_id.';

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
