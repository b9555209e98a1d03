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
