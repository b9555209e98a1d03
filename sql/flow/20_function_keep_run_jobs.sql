-- A run is kept or deleted whole. River's cleaner deletes finished jobs one
-- by one after its own retention periods (24 h completed, 7 days discarded):
-- for a flow job that would leave a run half-deleted (a running run losing
-- its children's inputs, a finished one losing some nodes). So deletes of
-- finished flow jobs are skipped (BEFORE DELETE returning NULL: no error,
-- which would fail the cleaner's whole batch), except inside
-- flow.delete_finished_runs, which removes whole finished runs (jobs, nodes
-- and the run row) after htdag's own retention (`worker run --run-retention`).
CREATE OR REPLACE FUNCTION flow.keep_run_jobs() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.keep_run_jobs() IS 'Skips deleting a finished flow job: runs are deleted whole, by flow.delete_finished_runs.';
