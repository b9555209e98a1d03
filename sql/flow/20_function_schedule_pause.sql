-- flow.schedule_pause(name, owner): stops a schedule's ticks until
-- flow.schedule_resume; a run it started goes on. Returns true, or false
-- (with a NOTICE) when it was already paused. The schedule is the caller's
-- own (owner defaults to flow.caller()); an admin or a member of owner may
-- name it, and to anyone else it does not exist (no_data_found).
CREATE OR REPLACE FUNCTION flow.schedule_pause(name text, owner name DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_s flow.schedule := flow.schedule_of(schedule_pause.name, schedule_pause.owner);
BEGIN
    IF v_s.paused THEN
        RAISE NOTICE 'htdag: schedule % is already paused', to_json(v_s.name);
        RETURN false;
    END IF;
    UPDATE flow.schedule s SET paused = true, updated_at = now() WHERE s.id = v_s.id;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION flow.schedule_pause(text, name) IS 'Pauses a schedule (no tick fires until it is resumed); false if it was paused already.';
