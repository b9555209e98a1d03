-- flow.signal(run_id, node_id, payload): completes a wait node that waits
-- for a signal, with payload as its output (its children read it in their
-- inputs). The node's job completes in the caller's transaction, so the
-- release trigger releases its children in that same transaction: nothing
-- happens unless it commits.
--
-- A node that does not wait gets an error (SQLSTATE 55000,
-- object_not_in_prerequisite_state) that says why: the run has no such node,
-- it is not a wait node, it does not wait yet (its parents have not
-- finished), it was already signalled, its timeout fired, it was cancelled
-- or skipped; and, for a wait node, whether its run has finished.
--
-- Only an admin or a member of the run's owner may signal; to anyone else
-- the run does not exist (SQLSTATE P0002, like flow.cancel). SECURITY
-- DEFINER, with SET clauses so that no setting of the caller's steers the
-- release trigger. The job row is locked first, so a signal and the
-- timeout (River fetching the job) or a second signal cannot both win.
CREATE OR REPLACE FUNCTION flow.signal(p_run_id bigint, p_node_id text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET flow.in_trigger = 'off'
SET flow.cancelling = ''
SET flow.deleting_runs = 'off'
AS $$
DECLARE
    v_run   flow.run%ROWTYPE;
    v_node  flow.node%ROWTYPE;
    v_job   record;
    v_why   text;
BEGIN
    SELECT * INTO v_run FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND OR NOT flow.can_see(v_run.owner) THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO v_node FROM flow.node WHERE run_id = p_run_id AND node_id = p_node_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'htdag: cannot signal node % of run %: the run has no such node', to_json(p_node_id), p_run_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'see flow.nodes for its nodes';
    END IF;
    SELECT j.state::text AS state, j.kind, j.metadata, j.finalized_at, j.scheduled_at, j.args
      INTO v_job
      FROM public.river_job j WHERE j.id = v_node.job_id
       FOR UPDATE;

    IF v_node.mode IS DISTINCT FROM 'wait' THEN
        RAISE EXCEPTION 'htdag: cannot signal node % of run %: it is not a wait node (it is %)', to_json(p_node_id), p_run_id,
                        CASE v_node.mode WHEN 'workflow' THEN 'a sub-workflow node' WHEN 'map' THEN 'a map node'
                             ELSE format('a task of kind %s', to_json(v_job.kind)) END
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF v_job.state IS NULL THEN
        v_why := 'its job was deleted';
    ELSIF v_job.state IN ('pending', 'scheduled') AND v_job.metadata ? 'flow_waiting_since' THEN
        UPDATE public.river_job j
           SET state = 'completed',
               finalized_at = now(),
               metadata = j.metadata || jsonb_build_object('output', p_payload, 'flow_signalled_at', now())
         WHERE j.id = v_node.job_id;
        RETURN;
    ELSIF v_job.state = 'pending' THEN
        v_why := format('it does not wait yet: %s of its parents have not finished (see flow.blocked)', v_node.waiting);
    ELSIF v_job.metadata ? 'flow_signalled_at' THEN
        v_why := format('it was already signalled, at %s', v_job.metadata ->> 'flow_signalled_at');
    ELSIF v_job.state IN ('available', 'running') THEN
        v_why := format('its timeout (%s ms) fired at %s', v_job.args ->> 'timeout_ms', v_job.scheduled_at);
    ELSIF v_job.state = 'completed' AND v_job.metadata ? 'flow_skipped' THEN
        v_why := format('it was skipped (%s)', v_job.metadata ->> 'flow_skipped');
    ELSIF v_job.state = 'completed' THEN
        v_why := format('its timeout (%s ms) fired and it completed with its default, at %s', v_job.args ->> 'timeout_ms', v_job.finalized_at);
    ELSIF v_job.state = 'discarded' THEN
        v_why := format('its timeout (%s ms) fired and it failed, at %s', v_job.args ->> 'timeout_ms', v_job.finalized_at);
    ELSE
        v_why := format('it was %s', v_job.state); -- cancelled
    END IF;
    IF v_run.state IN ('completed', 'failed', 'cancelled') THEN
        v_why := format('the run has finished (%s) and %s', v_run.state, v_why);
    END IF;
    RAISE EXCEPTION 'htdag: cannot signal node % of run %: %', to_json(p_node_id), p_run_id, v_why
        USING ERRCODE = 'object_not_in_prerequisite_state';
END;
$$;
COMMENT ON FUNCTION flow.signal(bigint, text, jsonb) IS 'Completes a wait node that waits for a signal, with the payload as its output; its children are released in the caller''s transaction. An error says why a node does not wait.';
