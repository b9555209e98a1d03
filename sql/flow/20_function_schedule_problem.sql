-- The first problem with a schedule's timing and policies, or NULL: what
-- SQL can check. A cron expression is checked here for its shape only (5
-- fields, 6 with seconds first, or a descriptor such as @daily); the fleet's
-- parser (Go, robfig/cron) reads it, and the Go client and `worker schedule
-- add` refuse an expression it cannot read before anything is written. An
-- expression inserted from SQL that the fleet cannot read pauses its
-- schedule, with the reason in last_error.
CREATE OR REPLACE FUNCTION flow.schedule_problem(p_name text, p_cron text, p_every interval, p_time_zone text,
                                                 p_catch_up text, p_overlap text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p_name IS NULL OR p_name !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
            format('name %s: use 1 to 128 characters of A-Z a-z 0-9 _ . : -', coalesce(to_json(p_name)::text, 'NULL'))
        WHEN num_nonnulls(p_cron, p_every) <> 1 THEN
            'give either cron (an expression) or every (an interval), not both or neither'
        WHEN p_cron ~* '^\s*(CRON_)?TZ=' THEN
            format('cron %s: give the time zone as time_zone, not in the expression', to_json(p_cron))
        WHEN p_cron ~* '^\s*@every' THEN
            format('cron %s: for a fixed interval, give every instead (every => ''5 minutes'')', to_json(p_cron))
        WHEN p_cron IS NOT NULL AND (length(p_cron) > 200 OR p_cron !~ '^\s*(@[a-z]+|[0-9A-Za-z*/,?-]+(\s+[0-9A-Za-z*/,?-]+){4,5})\s*$') THEN
            format('cron %s: want 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @yearly, @monthly, @weekly, @daily, @hourly',
                   to_json(left(p_cron, 200)))
        WHEN p_every < interval '1 second' THEN
            format('every %s: at least 1 second', p_every)
        WHEN date_part('month', p_every) <> 0 OR date_part('year', p_every) <> 0 THEN
            format('every %s: months and years have no fixed length; use cron for calendar schedules', p_every)
        WHEN p_every IS NOT NULL AND p_time_zone IS DISTINCT FROM 'UTC' THEN
            'time_zone applies to cron schedules only (an interval is the same in every zone)'
        WHEN p_time_zone IS NULL OR p_time_zone IN ('localtime', 'posixrules')
             OR NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = p_time_zone) THEN
            format('time_zone %s: not an IANA time zone name (such as UTC or Europe/Paris)', coalesce(to_json(p_time_zone)::text, 'NULL'))
        WHEN p_catch_up IS NULL OR p_catch_up NOT IN ('once', 'skip') THEN
            format('catch_up %s: want once or skip', coalesce(to_json(p_catch_up)::text, 'NULL'))
        WHEN p_overlap IS NULL OR p_overlap NOT IN ('skip', 'allow') THEN
            format('overlap %s: want skip or allow', coalesce(to_json(p_overlap)::text, 'NULL'))
    END;
$$;

COMMENT ON FUNCTION flow.schedule_problem(text, text, interval, text, text, text) IS 'The first problem with a schedule''s name, timing or policies (a cron expression''s shape only), or NULL.';
