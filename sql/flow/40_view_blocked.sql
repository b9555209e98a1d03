-- "Why is it not running?": one row per pending node of an unfinished run,
-- with the parents it still waits on and their states (a parent whose job is
-- gone shows 'deleted'), or the child run it waits for (waiting_for_run), or
-- a wait node that waits for a signal (flow.signal): since when
-- (waiting_for_signal_since) and until when, if it has a timeout
-- (signal_timeout_at; such a node's job is 'scheduled' for it), or the
-- concurrency key it waits for a slot of (waiting_for_slot).
-- Each caller sees the nodes of runs of the roles it is a member of.
CREATE OR REPLACE VIEW flow.blocked WITH (security_barrier = true) AS
SELECT n.run_id,
       n.node_id,
       n.job_id,
       n.waiting,
       array_agg(p.node_id ORDER BY p.node_id) FILTER (WHERE p.job_id IS NOT NULL AND pj.state IS DISTINCT FROM 'completed') AS waiting_on,
       jsonb_object_agg(p.node_id, coalesce(pj.state::text, 'deleted'))
           FILTER (WHERE p.job_id IS NOT NULL AND pj.state IS DISTINCT FROM 'completed') AS parent_states,
       (SELECT c.id FROM flow.run c WHERE c.parent_job_id = n.job_id) AS waiting_for_run,
       (j.metadata ->> 'flow_waiting_since')::timestamptz AS waiting_for_signal_since,
       CASE WHEN j.state = 'scheduled' THEN j.scheduled_at END AS signal_timeout_at,
       CASE WHEN n.concurrency_key IS NOT NULL
                 AND EXISTS (SELECT 1 FROM flow.concurrency_wait w WHERE w.job_id = n.job_id)
            THEN n.concurrency_key END AS waiting_for_slot
  FROM flow.node n
  JOIN flow.run r ON r.id = n.run_id AND r.state IN ('pending', 'running')
  JOIN public.river_job j ON j.id = n.job_id AND (j.state = 'pending' OR (j.state = 'scheduled' AND j.metadata ? 'flow_waiting_since'))
  LEFT JOIN flow.node p ON p.job_id = ANY (n.parents)
  LEFT JOIN public.river_job pj ON pj.id = p.job_id
 WHERE (SELECT flow.member_of(flow.caller())) IS NULL OR r.owner = ANY (coalesce((SELECT flow.member_of(flow.caller())), '{}'::name[]))
 GROUP BY n.run_id, n.node_id, n.job_id, n.waiting, j.state, j.metadata, j.scheduled_at, n.concurrency_key;
COMMENT ON VIEW flow.blocked IS 'Pending nodes of unfinished runs: the parents each still waits on and their states, the child run it waits for, since and until when it waits for a signal, or the concurrency key it waits for a slot of.';
