-- flow.retry(run_id): resumes a failed or cancelled top run from its failure
-- frontier, at every level of its tree. Completed nodes keep their outputs and
-- are not run again; discarded nodes go back to pending with a fresh attempt
-- budget, cancelled ones as they were; failed child runs are retried in place
-- and the nodes waiting for them wait again; waiting counts are recomputed
-- from the edges, nodes whose parents have all completed are released and the
-- workers woken. Returns how many nodes were reset at every level. Each run
-- retried that has a "timeout_ms" gets a fresh deadline, timeout_ms from the
-- retry (one cancelled by its deadline too).
--
-- Retrying a run that is pending, running (one just retried, say) or completed
-- changes nothing and says so (a NOTICE, and 0). A child run is retried
-- through its top run (an error says which). A run some of whose jobs were
-- deleted cannot be retried (their outputs are gone): that is an error.
--
-- Only an admin or a member of the run's owner may retry it; to anyone else
-- the run does not exist. SECURITY DEFINER, with SET clauses so that no
-- setting of the caller's steers it.
CREATE OR REPLACE FUNCTION flow.retry(p_run_id bigint) RETURNS integer
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
    IF NOT FOUND OR NOT flow.can_see(v_run.owner) THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_run.parent_run_id IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: run % is a child run (of node % of run %); retry its top run %',
                        p_run_id, to_json((SELECT node_id FROM flow.node WHERE job_id = v_run.parent_job_id)),
                        v_run.parent_run_id, v_run.root_run_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN flow.retry_run(p_run_id);
END;
$$;
COMMENT ON FUNCTION flow.retry(bigint) IS 'Resumes a failed or cancelled top run and its whole tree: resets failed and cancelled nodes at every level (fresh attempts for discarded ones), keeps completed ones. 0, with a NOTICE, for a run that is not failed or cancelled.';
