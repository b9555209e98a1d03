-- The work of a flow.run_deadline job (see flow.arm_deadline): cancels run
-- p_run_id and every run below it, as flow.cancel does, with the reason
-- "run N passed its deadline (timeout_ms T) and was cancelled" (the runs'
-- cancel_reason; "htdag: " and the same words are the error of the nodes it
-- cancels). Returns false and does nothing when the run is gone (deleted by
-- retention), has finished, or p_job_id is not its current deadline job (a
-- job of an earlier attempt: flow.retry armed a new one). A child run's own
-- deadline cancels only that child run; its node then fails like a node
-- whose child run failed (error "htdag: sub-run N passed its deadline ...";
-- its run's trigger rules decide what follows). Called by htdag's worker
-- (flow.DeadlineWorker); granted to nobody else. SECURITY DEFINER, so that
-- the worker's role needs no right on the flow tables.
CREATE OR REPLACE FUNCTION flow.cancel_at_deadline(p_run_id bigint, p_job_id bigint) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET flow.in_trigger = 'off'
SET flow.cancelling = ''
SET flow.deleting_runs = 'off'
AS $$
DECLARE
    v_run flow.run%ROWTYPE;
BEGIN
    SELECT * INTO v_run FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND OR v_run.state NOT IN ('pending', 'running') OR v_run.deadline_job_id IS DISTINCT FROM p_job_id THEN
        RETURN false;
    END IF;
    RETURN flow.cancel_tree(p_run_id, flow.deadline_reason(p_run_id, v_run.timeout_ms));
END;
$$;
COMMENT ON FUNCTION flow.cancel_at_deadline(bigint, bigint) IS 'Cancels a run past its deadline and every run below it, with a reason that says so; false when the run finished first or the job is not its current deadline job.';
