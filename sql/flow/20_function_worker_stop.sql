-- A worker that stopped gracefully (River handed its in-flight work back):
-- records it and frees the liveness lock. A worker already declared dead
-- stays dead.
CREATE OR REPLACE FUNCTION flow.worker_stop(p_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE flow.worker SET stopped_at = now(), last_seen_at = now()
     WHERE id = p_id AND dead_at IS NULL AND stopped_at IS NULL;
    PERFORM pg_advisory_unlock_all();
END;
$$;

COMMENT ON FUNCTION flow.worker_stop(bigint) IS 'Records that a worker stopped gracefully and frees its liveness lock.';
