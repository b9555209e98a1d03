-- The fleet for psql users: one row per worker process registered in the
-- last day, newest first, with its state ('alive': it holds its liveness
-- lock; 'lost': it does not, and will be declared dead once the grace is
-- over unless it reconnects; 'dead'; 'stopped'), the jobs running on it,
-- and its free slots per queue at its last heartbeat (NULL: it does not say,
-- so every release of its queues wakes the whole queue on River's channel:
-- see flow.notify_runnable).
CREATE OR REPLACE VIEW flow.workers AS
SELECT w.id,
       w.client_id,
       w.host,
       w.pid,
       w.version,
       CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'
            WHEN w.dead_at IS NOT NULL THEN 'dead'
            WHEN flow.worker_alive(w.id) THEN 'alive'
            ELSE 'lost' END AS state,
       w.queues,
       w.kinds,
       coalesce(r.running, 0) AS running,
       w.started_at,
       w.last_seen_at,
       coalesce(w.stopped_at, w.dead_at) AS ended_at,
       w.free_slots
  FROM flow.worker w
  LEFT JOIN (SELECT j.attempted_by[array_upper(j.attempted_by, 1)] AS client_id, count(*) AS running
               FROM public.river_job j
              WHERE j.state = 'running'
              GROUP BY 1) r ON r.client_id = w.client_id;

COMMENT ON VIEW flow.workers IS 'The fleet: each worker process with its state (alive, lost, dead, stopped), queues, kinds, running jobs and free slots per queue (NULL: it does not say, and releases of its queues wake everyone).';
