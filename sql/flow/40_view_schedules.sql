-- The schedules, for psql users and `worker schedule list`: each with its
-- timing, policies, next tick, and what its last tick did (its last run's
-- state). Each caller sees the schedules of the roles it is a member of (an
-- admin every one), the membership worked out once per query.
CREATE OR REPLACE VIEW flow.schedules WITH (security_barrier = true) AS
SELECT s.id,
       s.name,
       s.owner,
       s.cron,
       s.time_zone,
       s.every,
       s.catch_up,
       s.overlap,
       s.paused,
       s.next_at,
       s.last_tick_at,
       s.last_outcome,
       s.last_run_id,
       r.state AS last_run_state,
       s.last_error,
       s.spec,
       s.created_at,
       s.created_by,
       s.updated_at
  FROM flow.schedule s
  LEFT JOIN flow.run r ON r.id = s.last_run_id
 WHERE (SELECT flow.member_of(flow.caller())) IS NULL OR s.owner = ANY (coalesce((SELECT flow.member_of(flow.caller())), '{}'::name[]));

COMMENT ON VIEW flow.schedules IS 'Each schedule: timing, policies, next tick, and its last tick''s outcome and run.';
