-- A worker's heartbeat, on its liveness session, about once a second: records
-- that it is seen and says what it is: 'alive'; 'dead' or 'stopped' (it must
-- stop working at once: its nodes were handed to others); or 'locked
-- elsewhere' after a reconnect while the old session still holds the lock
-- (retry shortly: that session ends soon, and until it does the worker counts
-- as alive). On a new session it takes the liveness lock again first.
-- p_free_slots is its free worker slots per queue, which the fleet's workers
-- read to choose which of them a release wakes (flow.notify_runnable).
CREATE OR REPLACE FUNCTION flow.worker_heartbeat(p_id bigint, p_free_slots jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_w flow.worker%ROWTYPE;
BEGIN
    SELECT * INTO v_w FROM flow.worker WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN 'dead';
    ELSIF v_w.dead_at IS NOT NULL THEN
        RETURN 'dead';
    ELSIF v_w.stopped_at IS NOT NULL THEN
        RETURN 'stopped';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.classid = 1752458343::oid AND l.objid = p_id::oid
                      AND l.objsubid = 2 AND l.granted AND l.pid = pg_backend_pid())
       AND NOT pg_try_advisory_lock(1752458343, p_id::integer) THEN
        RETURN 'locked elsewhere';
    END IF;
    -- Declared dead by a rescuer that committed after our read: the row lock
    -- orders us after it, and the condition sees its write.
    UPDATE flow.worker SET last_seen_at = now(), free_slots = p_free_slots WHERE id = p_id AND dead_at IS NULL AND stopped_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pg_advisory_unlock(1752458343, p_id::integer);
        RETURN 'dead';
    END IF;
    RETURN 'alive';
END;
$$;

COMMENT ON FUNCTION flow.worker_heartbeat(bigint, jsonb) IS 'A worker''s heartbeat on its liveness session, with its free slots per queue: alive, dead, stopped, or locked elsewhere (an old session still holds the lock).';
