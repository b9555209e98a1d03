-- The error a node gets when its child run did not complete: which node of
-- the child failed and why. Nested failures read as a path from the top. A
-- child run cancelled by its own deadline says so: "htdag: sub-run N passed
-- its deadline (timeout_ms T) and was cancelled".
CREATE OR REPLACE FUNCTION flow.sub_run_error(p_run_id bigint, p_state text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN p_state = 'cancelled' THEN coalesce(
                (SELECT 'htdag: sub-' || r.cancel_reason FROM flow.run r
                  WHERE r.id = p_run_id AND r.cancel_reason = flow.deadline_reason(r.id, r.timeout_ms)),
                format('htdag: sub-run %s was cancelled', p_run_id))
           ELSE format('htdag: sub-run %s failed: %s', p_run_id, coalesce(
                (SELECT format('node %s %s: %s', to_json(n.node_id), j.state,
                               coalesce(j.errors[array_upper(j.errors, 1)] ->> 'error', '(no error recorded)'))
                   FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
                  WHERE n.run_id = p_run_id AND j.state IN ('discarded', 'cancelled')
                  ORDER BY j.state = 'cancelled', j.finalized_at, j.id
                  LIMIT 1), 'no node failed'))
           END;
$$;
COMMENT ON FUNCTION flow.sub_run_error(bigint, text) IS 'The error recorded on a node whose child run failed or was cancelled.';
