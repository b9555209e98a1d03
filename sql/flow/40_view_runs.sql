-- One row per run (top and child runs), for psql users. The per-state node
-- counts come from the jobs themselves; nodes, unfinished and failed (kept on
-- flow.run) stay exact whatever happens to the jobs. For a child run: its
-- parent run, the parent node's id, its depth and its top run. A run with a
-- "timeout_ms" shows it and its deadline; a cancelled run, why it was
-- cancelled (cancel_reason: flow.cancel, or a deadline). Each caller
-- sees the runs of the roles it is a member of (an admin every run), the
-- membership worked out once per query.
CREATE OR REPLACE VIEW flow.runs WITH (security_barrier = true) AS
SELECT r.id,
       r.name,
       r.state,
       r.node_count AS nodes,
       c.pending,
       c.available,
       c.running,
       c.retryable,
       c.completed,
       c.cancelled,
       c.discarded,
       r.unfinished,
       r.failed,
       CASE WHEN r.input_from_parent THEN flow.run_input(r.id) ELSE r.input END AS input,
       r.output,
       r.created_at,
       r.started_at,
       r.finished_at,
       r.finished_at - r.started_at AS duration,
       r.parent_run_id,
       (SELECT pn.node_id FROM flow.node pn WHERE pn.job_id = r.parent_job_id) AS parent_node,
       r.depth,
       coalesce(r.root_run_id, r.id) AS top_run_id,
       r.owner,
       r.timeout_ms,
       r.deadline_at,
       r.cancel_reason
  FROM flow.run r
 CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE j.state = 'pending')                       AS pending,
               count(*) FILTER (WHERE j.state IN ('available', 'scheduled'))     AS available,
               count(*) FILTER (WHERE j.state = 'running')                       AS running,
               count(*) FILTER (WHERE j.state = 'retryable')                     AS retryable,
               count(*) FILTER (WHERE j.state = 'completed')                     AS completed,
               count(*) FILTER (WHERE j.state = 'cancelled')                     AS cancelled,
               count(*) FILTER (WHERE j.state = 'discarded')                     AS discarded
          FROM flow.node n
          JOIN public.river_job j ON j.id = n.job_id
         WHERE n.run_id = r.id
       ) c
 WHERE (SELECT flow.member_of(flow.caller())) IS NULL OR r.owner = ANY (coalesce((SELECT flow.member_of(flow.caller())), '{}'::name[]));
COMMENT ON VIEW flow.runs IS 'One row per run (top and child runs): state, node counts by job state, times, output, for a child run its parent run, parent node and depth; the deadline ("timeout_ms") and why a run was cancelled.';
