-- Guard: a node waiting for a child run is finished by the release trigger
-- when that run finishes, or cancelled with its whole run by flow.cancel.
-- Anything else (River's JobCancel, an UPDATE in psql) would leave the child
-- run running under a finished node, so it is refused.
CREATE OR REPLACE FUNCTION flow.guard_parked() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_child flow.run%ROWTYPE;
BEGIN
    SELECT * INTO v_child FROM flow.run WHERE parent_job_id = NEW.id;
    IF FOUND AND v_child.state IN ('pending', 'running')
       AND ((NEW.metadata ->> 'flow_run') = ANY (string_to_array(current_setting('flow.cancelling', true), ','))) IS NOT TRUE THEN
        RAISE EXCEPTION 'htdag: node "%" of run % waits for its child run %, which is %; it finishes when that run does',
                        NEW.metadata ->> 'flow_node', NEW.metadata ->> 'flow_run', v_child.id, v_child.state
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'cancel the run with flow.cancel, or the child run';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION flow.guard_parked() IS 'Refuses to finish by hand a node that waits for a running child run.';
