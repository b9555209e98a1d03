-- The ticks a schedule fired, one row each, written in the transaction that
-- fired the tick (flow.schedule_fire). Its primary key is the exactly-once
-- guarantee: a second start of the same tick fails on it and rolls back with
-- its run. outcome: started (run_id is the new run), overlap (the previous
-- run, run_id, was unfinished: nothing started), missed (catch_up skip and
-- the tick was more than a minute late), failed (flow.start refused it:
-- error). Rows go with their schedule, and after 7 days (each firing deletes
-- its schedule's older rows); run_id may outlive its run (runs are deleted by
-- retention).
CREATE TABLE flow.schedule_tick (
    schedule_id bigint      NOT NULL REFERENCES flow.schedule (id) ON DELETE CASCADE,
    tick_at     timestamptz NOT NULL,
    outcome     text        NOT NULL,
    run_id      bigint,
    error       text,
    fired_at    timestamptz NOT NULL DEFAULT now(),
    worker_id   bigint,
    PRIMARY KEY (schedule_id, tick_at),
    CONSTRAINT schedule_tick_outcome_valid CHECK (outcome IN ('started', 'overlap', 'missed', 'failed')),
    CONSTRAINT schedule_tick_run_iff_started_or_overlap CHECK ((outcome IN ('started', 'overlap')) = (run_id IS NOT NULL)),
    CONSTRAINT schedule_tick_error_iff_failed CHECK ((outcome = 'failed') = (error IS NOT NULL))
);

COMMENT ON TABLE flow.schedule_tick IS 'Each tick a schedule fired and what came of it (started, overlap, missed, failed); at most one row, so one run, per tick.';
COMMENT ON COLUMN flow.schedule_tick.worker_id IS 'The fleet member (flow.worker) that fired the tick.';
