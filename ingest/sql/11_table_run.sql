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
-- For ingest.fail_with_flow_run, which every finishing flow run fires.
CREATE INDEX run_running_flow_run ON ingest.run (flow_run_id) WHERE state = 'running';
COMMENT ON TABLE ingest.run IS 'One row per ingestion of a codebase. Counters are set by the index step when the run completes.';
COMMENT ON COLUMN ingest.run.flow_run_id IS 'The htdag run (flow.run) doing the work; not a foreign key, as finished flow runs are deleted by retention.';
COMMENT ON COLUMN ingest.run.state IS 'running until the index step commits (completed); failed as soon as its flow run fails or is cancelled (running again if that flow run is retried while this is the codebase''s latest run).';
COMMENT ON COLUMN ingest.run.files_planned IS 'Files the walk gave a per-file chain to (the progress total).';
COMMENT ON COLUMN ingest.run.dirs_planned IS 'Directories the walk gave a sub-workflow to.';
COMMENT ON COLUMN ingest.run.pruned IS 'Directories the walk did not enter ({"path": "reason"}): .git, vendored directories (linguist''s list), directories ignored by a .gitignore or .git/info/exclude, unreadable ones.';
COMMENT ON COLUMN ingest.run.added IS 'Files stored for the first time (or again after a removal).';
COMMENT ON COLUMN ingest.run.modified IS 'Files whose content changed and were stored again.';
COMMENT ON COLUMN ingest.run.unchanged IS 'Files whose content hash matched their current version (not parsed again).';
COMMENT ON COLUMN ingest.run.removed IS 'Files that were current and are gone from the tree or no longer valid.';
COMMENT ON COLUMN ingest.run.skipped IS 'Files walked but not stored (not a regular file, too large, unreadable, ignored, vendored, empty, binary, generated, no language detected).';
COMMENT ON COLUMN ingest.run.files IS 'Current files of the codebase after this run.';
COMMENT ON COLUMN ingest.run.lines IS 'Lines of the current files after this run.';
COMMENT ON COLUMN ingest.run.symbols IS 'Symbols of the current files after this run.';
COMMENT ON COLUMN ingest.run.lines_added IS 'Lines added over every file this run added or modified.';
COMMENT ON COLUMN ingest.run.lines_removed IS 'Lines removed over every file this run modified or removed.';
COMMENT ON COLUMN ingest.run.symbols_added IS 'Symbols added over every file this run added or modified.';
COMMENT ON COLUMN ingest.run.symbols_removed IS 'Symbols removed over every file this run modified or removed.';
