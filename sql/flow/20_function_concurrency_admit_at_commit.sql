-- Concurrency keys: the deferred trigger's function (trigger
-- flow_concurrency_admit_at_commit on flow.concurrency_commit). At commit, its
-- first firing takes all of the transaction's rows and queues the keyed roots
-- they list, admitting them while their keys have free slots
-- (flow.concurrency_settle: all keys locked at once, in key order); the
-- firings of its other rows find none.
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
    WITH d AS (
        DELETE FROM flow.concurrency_commit WHERE xid = NEW.xid RETURNING roots
    )
    SELECT array_agg(r) INTO v_roots FROM d CROSS JOIN LATERAL unnest(d.roots) AS r;
    IF v_roots IS NOT NULL THEN
        PERFORM flow.concurrency_settle('{}', '{}', v_roots, '{}');
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.concurrency_admit_at_commit() IS 'Internal: at commit, queues and admits the keyed roots the transaction started, every key locked at once in key order.';
