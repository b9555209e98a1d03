-- Guards on river_job that keep a run able to finish, whatever tool touches
-- its jobs (River's JobRetry/JobDelete, River UI, psql). Row triggers whose
-- WHEN clause skips every ordinary transition, so River's fetches,
-- completions and cleaner pay nothing for them.

-- A node may only become runnable (from pending, or again from a final state)
-- once all its parents have completed. flow.on_river_job_update releases
-- nodes itself (with flow.in_trigger set) and is not checked.
CREATE FUNCTION flow.guard_runnable() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_node flow.node%ROWTYPE;
BEGIN
    SELECT * INTO v_node FROM flow.node WHERE job_id = NEW.id;
    IF FOUND AND v_node.waiting > 0 THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: % of its parents have not completed',
                        v_node.node_id, v_node.run_id, NEW.state, v_node.waiting
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'retry or complete its failed parents first; see flow.nodes for their states';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION flow.guard_runnable() IS 'Refuses to make a flow node runnable while some of its parents have not completed.';

CREATE TRIGGER flow_guard_runnable
    BEFORE UPDATE OF state ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state IN ('pending', 'completed', 'cancelled', 'discarded')
          AND NEW.state IN ('available', 'scheduled', 'running', 'retryable')
          AND NEW.metadata ? 'flow_run'
          AND current_setting('flow.in_trigger', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.guard_runnable();
COMMENT ON TRIGGER flow_guard_runnable ON public.river_job IS 'htdag: refuses to make a flow node runnable while a parent has not completed.';

-- An unfinished node's job cannot be deleted: its children would wait for it
-- forever and its run would never finish. River's cleaner deletes only
-- finished jobs, so it is never refused. Cancel the node instead.
CREATE FUNCTION flow.guard_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM flow.node WHERE job_id = OLD.id) THEN
        RAISE EXCEPTION 'htdag: node "%" of run % is %; cancel it rather than delete it, or its run can never finish',
                        OLD.metadata ->> 'flow_node', OLD.metadata ->> 'flow_run', OLD.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN OLD;
END;
$$;
COMMENT ON FUNCTION flow.guard_delete() IS 'Refuses to delete the job of a flow node that has not finished.';

CREATE TRIGGER flow_guard_delete
    BEFORE DELETE ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state NOT IN ('completed', 'cancelled', 'discarded') AND OLD.metadata ? 'flow_run')
    EXECUTE FUNCTION flow.guard_delete();
COMMENT ON TRIGGER flow_guard_delete ON public.river_job IS 'htdag: refuses to delete the job of an unfinished flow node.';

-- A run is kept or deleted whole. River's cleaner deletes finished jobs one
-- by one after its own retention periods (24 h completed, 7 days discarded):
-- for a flow job that would leave a run half-deleted (a running run losing
-- its children's inputs, a finished one losing some nodes). So deletes of
-- finished flow jobs are skipped (BEFORE DELETE returning NULL: no error,
-- which would fail the cleaner's whole batch), except inside
-- flow.delete_finished_runs, which removes whole finished runs (jobs, nodes
-- and the run row) after htdag's own retention (`worker run --run-retention`).
CREATE FUNCTION flow.keep_run_jobs() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.keep_run_jobs() IS 'Skips deleting a finished flow job: runs are deleted whole, by flow.delete_finished_runs.';

CREATE TRIGGER flow_keep_run_jobs
    BEFORE DELETE ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state IN ('completed', 'cancelled', 'discarded') AND OLD.metadata ? 'flow_run'
          AND current_setting('flow.deleting_runs', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION flow.keep_run_jobs();
COMMENT ON TRIGGER flow_keep_run_jobs ON public.river_job IS 'htdag: skips deleting finished flow jobs; runs are deleted whole by flow.delete_finished_runs.';

-- Deletes up to p_limit finished runs whose finished_at is older than
-- p_older_than, whole: their jobs, their nodes and the run rows. Returns how
-- many runs it deleted; call it again while it returns p_limit. Runs being
-- deleted by another caller are skipped, not waited for.
CREATE FUNCTION flow.delete_finished_runs(p_older_than interval, p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_runs bigint[];
BEGIN
    SELECT array_agg(id) INTO v_runs
      FROM (SELECT id FROM flow.run
             WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < now() - p_older_than
             ORDER BY id
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED) s;
    IF v_runs IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('flow.deleting_runs', 'on', true);
    DELETE FROM public.river_job WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = ANY (v_runs));
    DELETE FROM flow.run WHERE id = ANY (v_runs); -- flow.node rows go with them (ON DELETE CASCADE)
    PERFORM set_config('flow.deleting_runs', 'off', true);
    RETURN cardinality(v_runs);
END;
$$;
COMMENT ON FUNCTION flow.delete_finished_runs(interval, integer) IS 'Deletes finished runs older than the given age whole (jobs, nodes, run rows), up to a batch; returns how many.';
