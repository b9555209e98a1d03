-- Per-node analytics: for the flow nodes that finished (completed, discarded
-- or cancelled) within p_since before now, per workflow (the name of the
-- node's run) and kind: how many, how many completed, discarded, cancelled
-- and retried (needed more than one attempt), the failure and retry rates,
-- and the duration of the last attempt (finalized_at - attempted_at) at the
-- 50th, 95th and 99th percentiles and at most, in milliseconds. Rows with a
-- NULL workflow or kind add up over it (GROUPING SETS): (NULL, kind) is one
-- kind across workflows, (workflow, NULL) one workflow across kinds, and
-- (NULL, NULL) every node (one row of zeros when the window is empty, its
-- rates and durations NULL). Sub-workflow and map nodes show as kinds
-- flow.workflow and flow.map; a node never worked (cancelled while it waited)
-- has no duration.
--
-- The window is read through River's index on (state, finalized_at), so
-- the cost follows the nodes finished in the window, not the table. Read-only
-- and SECURITY DEFINER, so that flow_reader, who may not read river_job, can
-- call it; each caller counts the runs of the roles it is a member of (an
-- admin every run), as in flow.runs.
CREATE OR REPLACE FUNCTION flow.node_stats(p_since interval DEFAULT '1 hour')
RETURNS TABLE (workflow text, kind text, nodes bigint, completed bigint, discarded bigint, cancelled bigint,
               retried bigint, failure_rate double precision, retry_rate double precision,
               p50_ms double precision, p95_ms double precision, p99_ms double precision, max_ms double precision)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Planned for the window it is given: a plan made for any window guesses a
-- third of the table and scans it all, even for an empty window.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_member_of name[] := flow.member_of(flow.caller());
BEGIN
    RETURN QUERY
    SELECT r.name, j.kind, count(*),
           count(*) FILTER (WHERE j.state = 'completed'),
           count(*) FILTER (WHERE j.state = 'discarded'),
           count(*) FILTER (WHERE j.state = 'cancelled'),
           count(*) FILTER (WHERE j.attempt > 1),
           (count(*) FILTER (WHERE j.state <> 'completed'))::double precision / nullif(count(*), 0),
           (count(*) FILTER (WHERE j.attempt > 1))::double precision / nullif(count(*), 0),
           percentile_cont(0.50) WITHIN GROUP (ORDER BY d.ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.ms),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY d.ms),
           max(d.ms)
      FROM public.river_job j
      JOIN flow.node n ON n.job_id = j.id
      JOIN flow.run r ON r.id = n.run_id
     CROSS JOIN LATERAL (SELECT extract(epoch FROM j.finalized_at - j.attempted_at)::double precision * 1000 AS ms) d
     WHERE j.state IN ('completed', 'discarded', 'cancelled')
       AND j.finalized_at >= now() - p_since
       AND (v_member_of IS NULL OR r.owner = ANY (v_member_of))
     GROUP BY GROUPING SETS ((r.name, j.kind), (r.name), (j.kind), ())
     ORDER BY r.name NULLS FIRST, j.kind NULLS FIRST;
END;
$$;
COMMENT ON FUNCTION flow.node_stats(interval) IS 'Per workflow and kind, over nodes finished in the window: counts, failure and retry rates, duration percentiles (ms); NULL workflow or kind rows add up over it.';
