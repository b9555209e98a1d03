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
