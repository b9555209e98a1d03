-- The code-ingestion workflow's schema (`worker ingest`, package ingest), an
-- application of the engine with its own migration line (ingest/migrations).
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
