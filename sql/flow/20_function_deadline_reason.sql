-- Why a run that passed its deadline was cancelled: the cancel_reason of the
-- runs of its tree and (after "htdag: ") the error of its cancelled nodes.
-- An inlinable SQL helper (no SET clauses).
CREATE OR REPLACE FUNCTION flow.deadline_reason(p_run_id bigint, p_timeout_ms integer) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT format('run %s passed its deadline (timeout_ms %s) and was cancelled', p_run_id, p_timeout_ms);
$$;
COMMENT ON FUNCTION flow.deadline_reason(bigint, integer) IS 'Internal: "run N passed its deadline (timeout_ms T) and was cancelled".';
