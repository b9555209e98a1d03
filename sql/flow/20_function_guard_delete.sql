-- Guard: an unfinished node's job cannot be deleted: its children would wait
-- for it forever and its run would never finish. River's cleaner deletes only
-- finished jobs, so it is never refused. Cancel the node instead.
CREATE OR REPLACE FUNCTION flow.guard_delete() RETURNS trigger
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
