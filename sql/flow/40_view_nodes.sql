-- One row per node, for psql users: its job's kind, state ('deleted' once the
-- job is gone, 'skipped' for a completed job with flow_skipped, 'waiting' for
-- a wait node waiting for flow.signal), attempts, queue, parents as node ids, waiting count, last
-- error, args, output and times, and the child run a sub-workflow, map or
-- expanded node runs as, its trigger rule and "if", and why it was skipped;
-- its concurrency key and limit, and whether it waits for a slot of its key.
-- Each caller sees the nodes of runs of the roles it
-- is a member of (an admin every node).
CREATE OR REPLACE VIEW flow.nodes WITH (security_barrier = true) AS
SELECT n.run_id,
       n.node_id,
       n.job_id,
       j.kind,
       CASE WHEN j.state = 'completed' AND j.metadata ? 'flow_skipped' THEN 'skipped'
            WHEN j.state IN ('pending', 'scheduled') AND j.metadata ? 'flow_waiting_since' THEN 'waiting'
            ELSE coalesce(j.state::text, 'deleted') END AS state,
       j.attempt,
       j.max_attempts,
       j.queue,
       ARRAY(SELECT p.node_id FROM flow.node p WHERE p.job_id = ANY (n.parents) ORDER BY p.node_id) AS parents,
       n.waiting,
       j.errors[array_upper(j.errors, 1)] ->> 'error' AS last_error,
       j.args,
       j.metadata -> 'output' AS output,
       j.created_at,
       j.scheduled_at,
       j.attempted_at,
       j.finalized_at,
       (SELECT c.id FROM flow.run c WHERE c.parent_job_id = n.job_id) AS child_run_id,
       coalesce(n.trigger_rule, 'all_success') AS trigger_rule,
       n.condition,
       j.metadata ->> 'flow_skipped' AS skip_reason,
       n.concurrency_key,
       n.concurrency_limit,
       n.concurrency_key IS NOT NULL AND j.state = 'pending'
           AND EXISTS (SELECT 1 FROM flow.concurrency_wait w WHERE w.job_id = n.job_id) AS waiting_for_slot
  FROM flow.node n
  JOIN flow.run r ON r.id = n.run_id
  LEFT JOIN public.river_job j ON j.id = n.job_id
 WHERE (SELECT flow.member_of(flow.caller())) IS NULL OR r.owner = ANY (coalesce((SELECT flow.member_of(flow.caller())), '{}'::name[]));
COMMENT ON VIEW flow.nodes IS 'One row per node: its River job''s kind, state (skipped: completed with flow_skipped; waiting: a wait node waiting for flow.signal), attempts, parents (node ids), last error, output, the child run it runs as (sub-workflow, map or expanded node), its trigger rule, "if" and why it was skipped, its concurrency key and limit, and whether it waits for a slot.';
