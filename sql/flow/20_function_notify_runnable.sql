-- Wakes River's producers of p_queues: p_count jobs of theirs became
-- available in this statement. The payload is River's ({"queue": ...}) plus
-- "n", the jobs made available so far in this transaction (all of
-- p_queues counted together, so a queue's figure may be too high, never too
-- low). Workers of a fleet read "n" to decide how many of them fetch: a
-- release of one job wakes two workers rather than every idle one (Go:
-- flow/wake_filter.go); a payload without "n" wakes them all.
--
-- Why the running total: PostgreSQL delivers one notification for equal
-- payloads of one transaction, so a StartMany of 25 one-root runs, each
-- notifying n = 1, would arrive as a single n = 1. The total makes every
-- payload different and the last one counts everything.
CREATE OR REPLACE FUNCTION flow.notify_runnable(p_queues text[], p_count bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_total bigint := coalesce(nullif(current_setting('flow.runnable_in_xact', true), '')::bigint, 0) + p_count;
BEGIN
    PERFORM set_config('flow.runnable_in_xact', v_total::text, true);
    PERFORM pg_notify('public.river_insert', json_build_object('queue', q, 'n', v_total)::text)
       FROM unnest(p_queues) AS q;
END;
$$;

COMMENT ON FUNCTION flow.notify_runnable(text[], bigint) IS 'Wakes River''s producers of the queues with {"queue", "n"}: n is the jobs made available so far in this transaction, so that a fleet wakes as many workers as the work needs.';
