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
