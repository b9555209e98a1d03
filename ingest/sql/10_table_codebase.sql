CREATE TABLE ingest.codebase (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200 AND id !~ '^\s|\s$'),
    root       text NOT NULL CHECK (root LIKE '/%'),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ingest.codebase IS 'One row per codebase ingested (worker ingest DIR --codebase ID).';
COMMENT ON COLUMN ingest.codebase.id IS 'The codebase id: --codebase, by default the absolute path of DIR.';
COMMENT ON COLUMN ingest.codebase.root IS 'Absolute path of the directory last ingested under this id.';
