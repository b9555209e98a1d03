-- A run's input. A child run started without an "input" of its own takes its
-- node's inputs ({"input": ..., "parents": {...}}); rather than a copy at
-- every level (a 1 MB input under a hundred child runs made a hundred
-- copies), it keeps a reference (input_from_parent) resolved here, one level
-- at a time up to the first run with an input of its own. SECURITY DEFINER
-- for readers of flow.run (flow_reader): NULL for a run the caller may not see.
CREATE OR REPLACE FUNCTION flow.run_input(p_run_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run record;
BEGIN
    SELECT r.input, r.input_from_parent, r.parent_job_id, r.owner INTO v_run FROM flow.run r WHERE r.id = p_run_id;
    IF NOT FOUND OR NOT flow.can_see(v_run.owner) THEN
        RETURN NULL;
    END IF;
    IF NOT v_run.input_from_parent THEN
        RETURN v_run.input;
    END IF;
    RETURN flow.node_inputs(v_run.parent_job_id);
END;
$$;

COMMENT ON FUNCTION flow.run_input(bigint) IS 'A run''s input, a child run''s taken from its node''s inputs by reference; NULL for a run the caller may not see.';
