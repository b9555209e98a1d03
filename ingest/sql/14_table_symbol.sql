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
