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
COMMENT ON COLUMN ingest.file_version.language IS 'Language as GitHub linguist names it (go-enry), lower-cased: go, python, c++, plpgsql, markdown, vue, ...';
COMMENT ON COLUMN ingest.file_version.package IS 'Go: the package clause. NULL for other languages.';
COMMENT ON COLUMN ingest.file_version.imports IS 'Go: the imported paths, in order.';
COMMENT ON COLUMN ingest.file_version.symbols IS 'Number of rows in ingest.symbol for this version.';
COMMENT ON COLUMN ingest.file_version.parse_error IS 'Why parsing failed (the file is still stored, with the symbols found before the error, if any).';
