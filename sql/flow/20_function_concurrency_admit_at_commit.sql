-- Concurrency keys: the deferred trigger's function (trigger
-- flow_concurrency_admit_at_commit on flow.concurrency_commit). At commit, it
-- queues the keyed roots the transaction started (its row, read again: starts
-- after the first added theirs) and admits them while their keys have free
-- slots (flow.concurrency_settle: all keys locked at once, in key order).
-- SECURITY DEFINER: it runs at the commit of a flow_starter's transaction,
-- outside flow.start.
CREATE OR REPLACE FUNCTION flow.concurrency_admit_at_commit() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_roots bigint[];
BEGIN
    DELETE FROM flow.concurrency_commit WHERE xid = NEW.xid RETURNING roots INTO v_roots;
    IF v_roots IS NOT NULL THEN
        PERFORM flow.concurrency_settle('{}', '{}', v_roots, '{}');
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.concurrency_admit_at_commit() IS 'Internal: at commit, queues and admits the keyed roots the transaction started, every key locked at once in key order.';
