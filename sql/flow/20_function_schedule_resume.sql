-- flow.schedule_resume(name, next_at, owner): resumes a paused schedule from
-- its next tick after now. Ticks that passed while it was paused start
-- nothing (a pause is not an outage: catch_up does not apply to it). An
-- interval schedule keeps its rhythm (next_at + k * every); for a cron
-- schedule the Go client gives next_at, and NULL lets the fleet compute the
-- first tick after now. Clears last_error (a schedule the fleet paused for
-- an expression it could not read is resumed once replaced). Returns true,
-- or false (with a NOTICE) when it was not paused. Who may: as
-- flow.schedule_pause.
CREATE OR REPLACE FUNCTION flow.schedule_resume(name text, next_at timestamptz DEFAULT NULL, owner name DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_s    flow.schedule := flow.schedule_of(schedule_resume.name, schedule_resume.owner);
    v_secs numeric;
    v_next timestamptz := schedule_resume.next_at;
BEGIN
    IF NOT v_s.paused THEN
        RAISE NOTICE 'htdag: schedule % is not paused', to_json(v_s.name);
        RETURN false;
    END IF;
    IF v_next IS NULL AND v_s.every IS NOT NULL THEN
        v_secs := extract(epoch FROM v_s.every);
        v_next := CASE WHEN v_s.next_at IS NULL THEN now() + v_s.every
                       WHEN v_s.next_at > now() THEN v_s.next_at
                       ELSE v_s.next_at + make_interval(secs => ((floor(extract(epoch FROM now() - v_s.next_at) / v_secs) + 1) * v_secs)::double precision)
                  END;
    END IF;
    UPDATE flow.schedule s SET paused = false, next_at = v_next, last_error = NULL, updated_at = now() WHERE s.id = v_s.id;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION flow.schedule_resume(text, timestamptz, name) IS 'Resumes a paused schedule from its next tick after now (ticks passed while paused start nothing); false if it was not paused.';
