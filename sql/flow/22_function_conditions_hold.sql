-- Checks the "if" of nodes whose trigger rule lets them run, for the
-- release trigger: the condition is a JSON path predicate over what the node
-- would read (flow.node_inputs: {"input", "parents", "states"}), matched with
-- jsonb_path_match in silent mode, so that a path that finds nothing or a
-- value that is not a boolean counts as false rather than failing the
-- completing transaction. holds is false for those, with the reason the node
-- is skipped.
CREATE OR REPLACE FUNCTION flow.conditions_hold(p_jobs bigint[])
RETURNS TABLE (job_id bigint, mode text, holds boolean, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT n.job_id, n.mode, coalesce(m.ok, false),
           CASE WHEN m.ok IS NULL
                THEN format('htdag: skipped: condition %s is not true or false (a path that finds nothing, or a value that is not a boolean)', to_json(n.condition))
                WHEN NOT m.ok THEN format('htdag: skipped: condition %s is false', to_json(n.condition)) END
      FROM flow.node n
     CROSS JOIN LATERAL (SELECT jsonb_path_match(flow.node_inputs(n.job_id), n.condition::jsonpath, '{}', true) AS ok) m
     WHERE n.job_id = ANY (p_jobs)
$$;
COMMENT ON FUNCTION flow.conditions_hold(bigint[]) IS 'Internal: whether each node''s "if" holds over its inputs, and if not why it is skipped.';
