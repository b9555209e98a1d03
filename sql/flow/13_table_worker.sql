-- The fleet: one row per worker process that works flow nodes (`worker run`,
-- or any process built on flow.RiverConfig), registered when it starts.
--
-- A worker proves it is alive by holding the session-level advisory lock
-- (1752458343, id) on a connection of its own. PostgreSQL frees it the
-- moment that backend ends, which a kill -9 of the process causes at once
-- (the socket closes), and a lost host after TCP keepalives give up (the
-- worker sets them to ~10 s on that session). Every live worker runs
-- flow.rescue_lost_nodes about once a second: a worker whose lock has been
-- free for a grace period is declared dead (dead_at) and its running nodes
-- go back to be worked again. A dead worker never comes back: when it finds
-- it was declared dead it exits, and its sessions' late writes to river_job
-- are skipped (flow_guard_dead_worker).
--
-- client_id is the River client id, the value River appends to
-- river_job.attempted_by when the worker fetches a job: it is how a running
-- job names its worker. It is never reused.
CREATE TABLE flow.worker (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    text        NOT NULL,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    version      text        NOT NULL DEFAULT '',
    queues       text[]      NOT NULL DEFAULT '{}',
    kinds        text[],
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz,
    dead_at      timestamptz,
    free_slots   jsonb,
    CONSTRAINT worker_client_id_unique UNIQUE (client_id),
    CONSTRAINT worker_client_id_valid CHECK (length(client_id) BETWEEN 1 AND 200),
    CONSTRAINT worker_id_fits_lock_key CHECK (id BETWEEN 1 AND 2147483647),
    CONSTRAINT worker_ends_once CHECK (stopped_at IS NULL OR dead_at IS NULL),
    CONSTRAINT worker_free_slots_object CHECK (jsonb_typeof(free_slots) = 'object')
) WITH (fillfactor = 50); -- room for HOT updates: last_seen_at changes every second

COMMENT ON TABLE flow.worker IS 'The fleet: one row per worker process (worker run, or a process built on flow.RiverConfig). Alive while it holds advisory lock (1752458343, id); see flow.workers.';
COMMENT ON COLUMN flow.worker.client_id IS 'The River client id: what river_job.attempted_by records for the jobs this worker fetched.';
COMMENT ON COLUMN flow.worker.queues IS 'The River queues it works.';
COMMENT ON COLUMN flow.worker.kinds IS 'The job kinds it has workers for; NULL when unknown (then counted as serving every kind).';
COMMENT ON COLUMN flow.worker.last_seen_at IS 'Its last heartbeat (about once a second).';
COMMENT ON COLUMN flow.worker.free_slots IS 'Its free worker slots per queue at its last heartbeat ({"default": 7}); NULL when it does not say. The fleet reads them to choose which workers a release wakes.';
COMMENT ON COLUMN flow.worker.stopped_at IS 'When it stopped gracefully (its in-flight work handed back by River).';
COMMENT ON COLUMN flow.worker.dead_at IS 'When another worker declared it dead (its liveness lock free past the grace) and rescued its running nodes.';

-- Workers that have not ended: what the rescuer and flow.check look at.
CREATE INDEX worker_active_idx ON flow.worker (id) WHERE stopped_at IS NULL AND dead_at IS NULL;
