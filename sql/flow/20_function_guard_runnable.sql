-- Guard: a node may become runnable (from pending, or again from a final
-- state), or be completed from pending by hand, only once its trigger rule
-- says it runs (by default: all its parents have completed), or be skipped
-- (completed with flow_skipped) once its rule says it is; a sub-workflow, map
-- or expanded node never becomes runnable (River has no worker for it; its child run is what
-- runs): flow.retry resumes those. A parked wait node may be completed
-- from pending (flow.signal does it). A pending node with a concurrency key
-- becomes runnable only when flow.concurrency_settle admits it. The release trigger and flow.retry make
-- nodes runnable themselves (with flow.in_trigger set) and are not checked.
CREATE OR REPLACE FUNCTION flow.guard_runnable() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_node flow.node%ROWTYPE;
    v_child bigint;
    v_decision text;
BEGIN
    SELECT * INTO v_node FROM flow.node WHERE job_id = NEW.id;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    v_decision := flow.rule_decision(v_node.trigger_rule, v_node.waiting, v_node.failed_parents, v_node.skipped_parents);
    IF NEW.state = 'completed' AND NEW.metadata ? 'flow_skipped' AND v_decision = 'skip' THEN
        RETURN NEW; -- skipped as its trigger rule says
    END IF;
    IF v_decision IS DISTINCT FROM 'run' AND v_node.trigger_rule IS NULL AND v_node.waiting > 0 THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: % of its parents have not completed',
                        v_node.node_id, v_node.run_id, NEW.state, v_node.waiting
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'retry or complete its failed parents first; see flow.nodes for their states';
    END IF;
    IF v_decision IS DISTINCT FROM 'run' THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: its trigger rule (%) is not met: % of its parents have not completed (% failed, % skipped)',
                        v_node.node_id, v_node.run_id, NEW.state, coalesce(v_node.trigger_rule, 'all_success'),
                        v_node.waiting, v_node.failed_parents, v_node.skipped_parents
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'retry or complete its failed parents first; see flow.nodes for their states';
    END IF;
    IF v_node.mode = 'wait' AND NEW.state = 'completed' AND OLD.metadata ? 'flow_waiting_since' THEN
        RETURN NEW; -- a parked wait node, signalled (flow.signal)
    END IF;
    IF OLD.state = 'pending' AND NEW.state <> 'completed' AND v_node.concurrency_key IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: it waits for a slot of concurrency key %',
                        v_node.node_id, v_node.run_id, NEW.state, to_json(v_node.concurrency_key)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'it starts when a node of its key finishes; see flow.blocked';
    END IF;
    SELECT id INTO v_child FROM flow.run WHERE parent_job_id = NEW.id;
    IF v_node.mode IS NOT NULL OR v_child IS NOT NULL THEN
        RAISE EXCEPTION 'htdag: node "%" of run % cannot be made %: it runs as a child run%, not as a job',
                        v_node.node_id, v_node.run_id, NEW.state, coalesce(' (run ' || v_child || ')', '')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'use flow.retry on the top run';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION flow.guard_runnable() IS 'Refuses to make a flow node runnable (or complete or skip it) unless its trigger rule says so, and ever when it runs as a child run.';
