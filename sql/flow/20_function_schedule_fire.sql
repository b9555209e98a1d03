-- flow.schedule_fire(id, seen, tick, next, worker_id, error): fires one due
-- tick of a schedule; called by the fleet (flow.Fleet), which computes the
-- times (cron expressions are parsed in Go) from the database's clock.
--
-- seen is the next_at the caller read. The schedule's row is locked (SKIP
-- LOCKED: a member firing it already has it) and next_at compared with seen:
-- if another member fired the tick meanwhile, or the schedule was changed or
-- paused, this does nothing and returns no outcome. Otherwise next_at
-- becomes next (the tick after tick: after the caller's now, and if that has
-- passed too by the time this runs, it is due at once and fired next) and:
--   - tick NULL: only that (the fleet computed the first tick of a schedule
--     created or resumed without one);
--   - error set: the fleet cannot compute the schedule's ticks (an
--     expression its parser refuses): the schedule is paused, with error as
--     its last_error;
--   - else tick is the latest due tick (ticks before it got no run of their
--     own: catch_up once starts one run for all of them), and it is
--     recorded in flow.schedule_tick as: missed (catch_up skip and the tick
--     more than a minute late), overlap (overlap skip and the schedule's
--     last run unfinished), started (flow.start(spec, NULL, owner) in this
--     transaction, as the owner's run) or failed (flow.start refused it:
--     the owner's grants or limits changed, the owner was dropped...; its
--     error is kept, and the schedule goes on).
-- The tick's row is inserted after the start, in the same transaction: if
-- the tick had been fired before, its primary key rolls the start back.
-- Errors that a retry may cure (deadlock, serialization, lost connection,
-- a cancelled statement) are raised, and the tick fires at a later try.
CREATE OR REPLACE FUNCTION flow.schedule_fire(p_id bigint, p_seen timestamptz, p_tick timestamptz, p_next timestamptz,
                                              p_worker_id bigint DEFAULT NULL, p_error text DEFAULT NULL,
                                              OUT outcome text, OUT run_id bigint, OUT error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_s flow.schedule;
BEGIN
    SELECT * INTO v_s FROM flow.schedule s WHERE s.id = p_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND OR v_s.paused OR v_s.next_at IS DISTINCT FROM p_seen THEN
        RETURN;
    END IF;
    IF p_error IS NOT NULL THEN
        UPDATE flow.schedule s SET paused = true, last_error = p_error, updated_at = now() WHERE s.id = p_id;
        error := p_error;
        RETURN;
    END IF;
    IF p_next IS NULL OR p_tick > now() OR p_tick < p_seen OR p_next <= p_tick THEN
        RAISE EXCEPTION 'htdag: flow.schedule_fire(%, %, %, %): the tick must be due, and the next one after it', p_id, p_seen, p_tick, p_next
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE flow.schedule s SET next_at = p_next WHERE s.id = p_id;
    IF p_tick IS NULL OR EXISTS (SELECT 1 FROM flow.schedule_tick t WHERE t.schedule_id = p_id AND t.tick_at = p_tick) THEN
        RETURN;
    END IF;

    IF v_s.catch_up = 'skip' AND now() - p_tick > interval '1 minute' THEN
        outcome := 'missed';
    ELSIF v_s.overlap = 'skip' AND EXISTS (SELECT 1 FROM flow.run r WHERE r.id = v_s.last_run_id AND r.state IN ('pending', 'running')) THEN
        outcome := 'overlap';
        run_id := v_s.last_run_id;
    ELSE
        BEGIN
            run_id := flow.start(v_s.spec, NULL, v_s.owner);
            outcome := 'started';
        EXCEPTION WHEN OTHERS THEN
            IF SQLSTATE ~ '^(40|53|55P03|57|08)' THEN
                RAISE;
            END IF;
            outcome := 'failed';
            error := SQLERRM;
        END;
    END IF;
    INSERT INTO flow.schedule_tick (schedule_id, tick_at, outcome, run_id, error, worker_id)
    VALUES (p_id, p_tick, outcome, run_id, error, p_worker_id);
    UPDATE flow.schedule s
       SET last_tick_at = p_tick, last_outcome = outcome, last_error = error,
           last_run_id = CASE WHEN outcome = 'started' THEN run_id ELSE s.last_run_id END
     WHERE s.id = p_id;
    DELETE FROM flow.schedule_tick t WHERE t.schedule_id = p_id AND t.tick_at < now() - interval '7 days';
END;
$$;

COMMENT ON FUNCTION flow.schedule_fire(bigint, timestamptz, timestamptz, timestamptz, bigint, text) IS 'The fleet''s firing of a due schedule tick: compare-and-set of next_at, then the tick recorded once (started, overlap, missed or failed) with its run started in the same transaction.';
