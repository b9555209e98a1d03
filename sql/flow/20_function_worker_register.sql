-- Registers the calling session's process as a worker and takes its
-- liveness lock on this session, which must stay open for as long as the
-- process works (a connection of its own, never a pooled one). Returns the
-- worker's id. A River client id is used by one worker only: reusing one
-- (a fixed river.Config.ID across restarts) is refused, because a running
-- job names its worker by it.
CREATE OR REPLACE FUNCTION flow.worker_register(p_client_id text, p_host text, p_pid integer, p_version text,
                                                p_queues text[], p_kinds text[]) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO flow.worker (client_id, host, pid, version, queues, kinds)
    VALUES (p_client_id, p_host, p_pid, coalesce(p_version, ''), coalesce(p_queues, '{}'), p_kinds)
    ON CONFLICT (client_id) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'htdag: River client id % is already used by worker %; give each worker process its own (leave river.Config.ID empty)',
                        to_json(p_client_id), (SELECT id FROM flow.worker WHERE client_id = p_client_id)
            USING ERRCODE = 'unique_violation';
    END IF;
    PERFORM pg_advisory_lock(1752458343, v_id::integer);
    RETURN v_id;
END;
$$;

COMMENT ON FUNCTION flow.worker_register(text, text, integer, text, text[], text[]) IS 'Registers a worker process and takes its liveness lock on this session; returns its id.';
