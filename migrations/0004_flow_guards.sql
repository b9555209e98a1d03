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

-- A finished node's job outlives River's retention while its run is still
-- going: its output is an input of its children and part of the run's
-- output. River's cleaner (or anyone) deleting it then would lose committed
-- results, so the delete skips that row (BEFORE DELETE returning NULL: no
-- error, which would fail the cleaner's whole batch); the cleaner deletes it
-- on a pass after the run has finished. Run history itself is in flow.run.
CREATE FUNCTION flow.keep_jobs_of_unfinished_runs() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1
                 FROM flow.node n
                 JOIN flow.run r ON r.id = n.run_id
                WHERE n.job_id = OLD.id AND r.state IN ('pending', 'running')) THEN
        RETURN NULL;
    END IF;
    RETURN OLD;
END;
$$;
COMMENT ON FUNCTION flow.keep_jobs_of_unfinished_runs() IS 'Skips deleting the finished job of a node whose run has not finished (its output is still needed).';

CREATE TRIGGER flow_keep_jobs_of_unfinished_runs
    BEFORE DELETE ON public.river_job
    FOR EACH ROW
    WHEN (OLD.state IN ('completed', 'cancelled', 'discarded') AND OLD.metadata ? 'flow_run')
    EXECUTE FUNCTION flow.keep_jobs_of_unfinished_runs();
COMMENT ON TRIGGER flow_keep_jobs_of_unfinished_runs ON public.river_job IS 'htdag: skips deleting finished jobs of runs that have not finished.';
