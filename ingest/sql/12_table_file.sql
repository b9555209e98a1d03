CREATE TABLE ingest.file (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    codebase_id text NOT NULL REFERENCES ingest.codebase ON DELETE CASCADE,
    path        text NOT NULL CHECK (path <> '' AND path !~ '^/' AND path !~ '(^|/)\.\.?(/|$)'),
    UNIQUE (codebase_id, path)
);
COMMENT ON TABLE ingest.file IS 'A path of a codebase that some run stored; its contents are its versions.';
COMMENT ON COLUMN ingest.file.path IS 'Slash-separated path relative to the codebase root. A byte of a name that is not UTF-8 is written \xHH and a backslash \\, so every name has one path.';
