-- Guard: a flow job's metadata keeps the keys that make it a node of its run
-- (flow_run, flow_node). Without them the node would drop out of every
-- guard's sight and its run's accounting; River's own metadata merges keep
-- them.
CREATE OR REPLACE FUNCTION flow.guard_metadata() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'htdag: node % of run % must keep its metadata keys flow_run and flow_node',
                    to_json(OLD.metadata ->> 'flow_node'), OLD.metadata ->> 'flow_run'
        USING ERRCODE = 'object_not_in_prerequisite_state';
END;
$$;

COMMENT ON FUNCTION flow.guard_metadata() IS 'Refuses an update that removes or changes a flow job''s flow_run or flow_node metadata.';
