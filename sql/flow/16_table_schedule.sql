-- Schedules: a named schedule starts its spec on every tick of a cron
-- expression (in a time zone) or of an interval, as a run owned by the
-- schedule's owner (whose kind grants and limits apply). Created, changed and
-- removed through flow.schedule_create, flow.schedule_pause,
-- flow.schedule_resume and flow.schedule_delete (or the Go client and
-- `worker schedule`); read through flow.schedules.
--
-- Firing: every fleet member (flow.worker) looks for due schedules about once
-- a second and fires one with flow.schedule_fire, which advances next_at only
-- if it still holds the value the member read (a compare-and-set under the
-- row's lock) and records the tick in flow.schedule_tick, whose primary key
-- (schedule, tick) refuses a second start of one tick in the same
-- transaction as the start: a fleet of any size starts each tick once.
--
-- Cron expressions are parsed by the fleet (Go, github.com/robfig/cron/v3);
-- the database keeps the expression and the next tick. next_at NULL means the
-- fleet has not computed it yet: it takes the first tick after updated_at
-- (a schedule created or resumed from psql, without a next_at).
--
-- Ticks are instants: an interval schedule ticks at next_at + k * every
-- (every is a fixed length: a day is 24 hours; for calendar days use cron),
-- a cron schedule where its expression matches the wall clock of time_zone.
CREATE TABLE flow.schedule (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    owner        name        NOT NULL,
    spec         jsonb       NOT NULL,
    cron         text,
    every        interval,
    time_zone    text        NOT NULL DEFAULT 'UTC',
    catch_up     text        NOT NULL DEFAULT 'once',
    overlap      text        NOT NULL DEFAULT 'skip',
    paused       boolean     NOT NULL DEFAULT false,
    next_at      timestamptz,
    last_tick_at timestamptz,
    last_outcome text,
    last_run_id  bigint,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   name        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedule_name_unique UNIQUE (owner, name),
    CONSTRAINT schedule_name_valid CHECK (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    CONSTRAINT schedule_cron_or_every CHECK (num_nonnulls(cron, every) = 1),
    CONSTRAINT schedule_cron_valid CHECK (length(cron) BETWEEN 1 AND 200 AND cron !~ '[[:cntrl:]]'),
    CONSTRAINT schedule_every_valid CHECK (every >= interval '1 second' AND date_part('month', every) = 0 AND date_part('year', every) = 0),
    CONSTRAINT schedule_time_zone_valid CHECK (length(time_zone) BETWEEN 1 AND 64),
    CONSTRAINT schedule_catch_up_valid CHECK (catch_up IN ('once', 'skip')),
    CONSTRAINT schedule_overlap_valid CHECK (overlap IN ('skip', 'allow')),
    CONSTRAINT schedule_last_outcome_valid CHECK (last_outcome IN ('started', 'overlap', 'missed', 'failed'))
);

COMMENT ON TABLE flow.schedule IS 'Named schedules: each starts its spec, as a run of its owner, on every tick of a cron expression or an interval; fired once per tick by the fleet.';
COMMENT ON COLUMN flow.schedule.owner IS 'The role that owns the schedule and the runs it starts (its kind grants and limits apply).';
COMMENT ON COLUMN flow.schedule.spec IS 'The workflow spec each tick starts (checked by a rolled-back flow.start when the schedule is created).';
COMMENT ON COLUMN flow.schedule.cron IS 'A cron expression (5 fields, or 6 with seconds first, or @hourly, @daily...) read in time_zone; NULL for an interval schedule.';
COMMENT ON COLUMN flow.schedule.every IS 'The interval between ticks (at least a second, no months); NULL for a cron schedule.';
COMMENT ON COLUMN flow.schedule.time_zone IS 'The IANA time zone a cron expression is read in (default UTC).';
COMMENT ON COLUMN flow.schedule.catch_up IS 'Ticks missed while no worker could fire them: once (one run at recovery, for the latest missed tick) or skip (a tick more than a minute late starts nothing).';
COMMENT ON COLUMN flow.schedule.overlap IS 'A tick while the schedule''s previous run is unfinished: skip (start nothing) or allow.';
COMMENT ON COLUMN flow.schedule.next_at IS 'The next tick to fire; NULL until the fleet computes the first tick after updated_at.';
COMMENT ON COLUMN flow.schedule.last_run_id IS 'The last run the schedule started (what overlap skip looks at).';
COMMENT ON COLUMN flow.schedule.last_error IS 'Why the last tick started nothing (flow.start refused it), or why the fleet paused the schedule.';
COMMENT ON COLUMN flow.schedule.updated_at IS 'When the schedule was created, changed, paused or resumed.';

-- What the fleet polls: the active schedules by next tick.
CREATE INDEX schedule_due_idx ON flow.schedule (next_at NULLS FIRST) WHERE NOT paused;
