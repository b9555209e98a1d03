-- flow.schedule_create(name, spec, cron | every, ...): creates a schedule
-- that starts spec on every tick, as a run owned by owner (default: the
-- caller), and returns its id. Named arguments read best:
--
--   SELECT flow.schedule_create('nightly', '{"nodes": [...]}', cron => '0 3 * * *', time_zone => 'Europe/Paris');
--   SELECT flow.schedule_create('poll', '{"nodes": [...]}', every => '30 seconds', overlap => 'allow');
--
-- cron: 5 fields, or 6 with seconds first, or @hourly, @daily...; read in
-- time_zone (default UTC). every: a fixed interval (at least a second); the
-- first tick is next_at, by default a full interval from now. catch_up: once
-- (default: one run at recovery for ticks missed while no worker could fire
-- them) or skip (a tick more than a minute late starts nothing). overlap:
-- skip (default: no run while the previous one is unfinished) or allow.
-- paused: created paused. next_at: the first tick; for cron the Go client
-- computes it, and NULL lets the fleet compute the first tick after now.
-- A spec without a "name" is given the schedule's.
--
-- Checked before anything is written, with SQLSTATE 22023: the timing and
-- policies ("invalid schedule: ..."), and the spec, by starting it in a
-- subtransaction that is rolled back, so every rule of flow.start applies as
-- it would at a tick ("invalid workflow spec: ..."; 42501 for a kind the
-- owner may not start, or an owner the caller is not a member of). A
-- schedule of that owner with that name already existing is refused
-- (unique_violation) unless or_replace, which replaces its definition and
-- keeps its history (ticks, last run).
--
-- SECURITY DEFINER: flow_starter may call it for roles it is a member of.
CREATE OR REPLACE FUNCTION flow.schedule_create(name text, spec jsonb, cron text DEFAULT NULL, every interval DEFAULT NULL,
                                                time_zone text DEFAULT 'UTC', catch_up text DEFAULT 'once',
                                                overlap text DEFAULT 'skip', paused boolean DEFAULT false,
                                                next_at timestamptz DEFAULT NULL, owner name DEFAULT NULL,
                                                or_replace boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name    text := schedule_create.name;
    v_spec    jsonb := schedule_create.spec;
    v_cron    text := nullif(btrim(schedule_create.cron), '');
    v_every   interval := schedule_create.every;
    v_tz      text := schedule_create.time_zone;
    v_caller  name := flow.caller();
    v_owner   name := coalesce(schedule_create.owner, flow.caller());
    v_problem text;
    v_next    timestamptz;
    v_id      bigint;
BEGIN
    v_problem := flow.schedule_problem(v_name, v_cron, v_every, v_tz, schedule_create.catch_up, schedule_create.overlap);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid schedule: %', v_problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'see "Schedules" in the htdag README';
    END IF;
    IF jsonb_typeof(v_spec) = 'object' AND NOT v_spec ? 'name' THEN
        v_spec := v_spec || jsonb_build_object('name', v_name);
    END IF;

    -- The spec as a tick would start it: every rule of flow.start, then
    -- nothing kept.
    BEGIN
        PERFORM flow.start(v_spec, NULL, v_owner);
        RAISE EXCEPTION 'dry run' USING ERRCODE = 'HTS01';
    EXCEPTION WHEN SQLSTATE 'HTS01' THEN
        NULL;
    END;

    v_next := CASE WHEN v_every IS NOT NULL THEN coalesce(schedule_create.next_at, now() + v_every)
                   ELSE schedule_create.next_at END;
    INSERT INTO flow.schedule AS s (name, owner, spec, cron, every, time_zone, catch_up, overlap, paused, next_at, created_by)
    VALUES (v_name, v_owner, v_spec, v_cron, v_every, v_tz, schedule_create.catch_up, schedule_create.overlap,
            schedule_create.paused, v_next, v_caller)
    ON CONFLICT ON CONSTRAINT schedule_name_unique DO UPDATE
       SET spec = excluded.spec, cron = excluded.cron, every = excluded.every, time_zone = excluded.time_zone,
           catch_up = excluded.catch_up, overlap = excluded.overlap, paused = excluded.paused,
           next_at = excluded.next_at, last_error = NULL, updated_at = now()
     WHERE schedule_create.or_replace
    RETURNING s.id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'htdag: schedule % of role % already exists', to_json(v_name), to_json(v_owner::text)
            USING ERRCODE = 'unique_violation',
                  HINT = 'replace it with or_replace => true, or remove it with flow.schedule_delete';
    END IF;
    RETURN v_id;
END;
$$;

COMMENT ON FUNCTION flow.schedule_create(text, jsonb, text, interval, text, text, text, boolean, timestamptz, name, boolean) IS 'Creates (or with or_replace replaces) a schedule that starts a spec on every tick of a cron expression or an interval, owned by owner (default the caller); returns its id. The spec is checked as flow.start would check it.';
