-- The schedule p_name of p_owner (default: the caller, flow.caller()),
-- locked until the caller's transaction ends. Raises no_data_found when there
-- is none, or when the caller may not see it: only an admin or a member of
-- its owner may (flow.can_see); to anyone else it does not exist. Called by
-- the SECURITY DEFINER functions that change schedules.
CREATE OR REPLACE FUNCTION flow.schedule_of(p_name text, p_owner name) RETURNS flow.schedule
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner name := coalesce(p_owner, flow.caller());
    v_s     flow.schedule;
BEGIN
    SELECT * INTO v_s FROM flow.schedule s WHERE s.owner = v_owner AND s.name = p_name FOR UPDATE;
    IF NOT FOUND OR NOT flow.can_see(v_s.owner) THEN
        RAISE EXCEPTION 'htdag: schedule % of role % does not exist', to_json(p_name), to_json(v_owner::text)
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_s;
END;
$$;

COMMENT ON FUNCTION flow.schedule_of(text, name) IS 'A schedule by owner and name, locked; no_data_found when it does not exist or the caller may not see it.';
