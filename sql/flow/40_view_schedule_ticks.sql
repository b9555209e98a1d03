-- What each schedule's ticks did (flow.schedule_tick, the last 7 days), with
-- the schedule's name and owner and the state of the run a tick started (or,
-- for overlap, of the unfinished run that held it back). Visible as
-- flow.schedules is.
CREATE OR REPLACE VIEW flow.schedule_ticks WITH (security_barrier = true) AS
SELECT t.schedule_id,
       s.name AS schedule,
       s.owner,
       t.tick_at,
       t.outcome,
       t.run_id,
       r.state AS run_state,
       t.error,
       t.fired_at,
       t.worker_id
  FROM flow.schedule_tick t
  JOIN flow.schedule s ON s.id = t.schedule_id
  LEFT JOIN flow.run r ON r.id = t.run_id
 WHERE (SELECT flow.member_of(flow.caller())) IS NULL OR s.owner = ANY (coalesce((SELECT flow.member_of(flow.caller())), '{}'::name[]));

COMMENT ON VIEW flow.schedule_ticks IS 'Each tick a schedule fired in the last 7 days: started, overlap, missed or failed, and its run.';
