-- Concurrency keys (README "Concurrency keys"): keeps flow.concurrency_slot
-- and flow.concurrency_wait current for nodes that carry a key, and admits
-- waiting nodes as slots free. Called, only when such nodes are involved, by
-- the release trigger (flow.on_river_job_update), flow.concurrency_admit_at_commit
-- (the roots a transaction started, at its commit), flow.retry_run and
-- flow.expand, in the transaction that changed the nodes:
--
--   p_free  nodes that held a slot and gave it back (they finished, or an
--           expansion turned a running node into one waiting for its child run);
--   p_take  nodes made runnable again from a final state outside htdag (say,
--           River's JobRetry): they hold a slot from now, even past the limit;
--   p_ready pending nodes whose trigger rule says run: queued, then admitted;
--   p_gone  nodes that finished while pending: out of the queue.
--
-- Then, per key involved, the oldest waiting nodes (lowest job id) are
-- admitted while the key's count is below the limit of the node at the head
-- of the queue (first come, first served: a head that does not fit stops the
-- key's queue): their jobs become available (or scheduled, for an "at" in the
-- future), the count grows, River's producers are woken. The key rows are
-- locked in key order, all at once, so that two transactions settling the
-- same keys cannot deadlock on them. Admitted jobs are updated with
-- flow.in_trigger on (the release trigger has nothing to do for them, and
-- flow_guard_runnable refuses a queued node made runnable any other way).
CREATE OR REPLACE FUNCTION flow.concurrency_settle(p_free bigint[], p_take bigint[], p_ready bigint[], p_gone bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_keys    text[];
    v_deltas  integer[];
    v_key     text;
    v_running integer;
    v_w       record;
    v_admit   bigint[];
    v_done    bigint[];
    v_queues  text[];
    v_prev    text := current_setting('flow.in_trigger', true);
BEGIN
    IF p_gone IS NOT NULL AND p_gone <> '{}' THEN
        DELETE FROM flow.concurrency_wait WHERE job_id = ANY (p_gone);
    END IF;

    SELECT array_agg(s.key ORDER BY s.key), array_agg(s.d ORDER BY s.key)
      INTO v_keys, v_deltas
      FROM (SELECT e.key, sum(e.d)::integer AS d
              FROM (SELECT n.concurrency_key AS key, -1 AS d FROM flow.node n WHERE n.job_id = ANY (p_free)
                    UNION ALL
                    SELECT n.concurrency_key, 1 FROM flow.node n WHERE n.job_id = ANY (p_take)
                    UNION ALL
                    SELECT n.concurrency_key, 0 FROM flow.node n WHERE n.job_id = ANY (p_ready)) e
             WHERE e.key IS NOT NULL
             GROUP BY e.key) s;
    IF v_keys IS NULL THEN
        RETURN;
    END IF;

    INSERT INTO flow.concurrency_slot (key)
    SELECT k FROM unnest(v_keys) AS k ORDER BY k
    ON CONFLICT (key) DO NOTHING;
    PERFORM 1 FROM flow.concurrency_slot WHERE key = ANY (v_keys) ORDER BY key FOR UPDATE;
    UPDATE flow.concurrency_slot s
       SET running = s.running + d.d
      FROM unnest(v_keys, v_deltas) AS d(key, d)
     WHERE s.key = d.key AND d.d <> 0;
    INSERT INTO flow.concurrency_wait (job_id, key)
    SELECT n.job_id, n.concurrency_key FROM flow.node n
     WHERE n.job_id = ANY (p_ready) AND n.concurrency_key IS NOT NULL
    ON CONFLICT (job_id) DO NOTHING;

    PERFORM set_config('flow.in_trigger', 'on', true);
    FOREACH v_key IN ARRAY v_keys LOOP
        SELECT s.running INTO v_running FROM flow.concurrency_slot s WHERE s.key = v_key;
        LOOP
            v_admit := '{}';
            FOR v_w IN SELECT w.job_id, n.concurrency_limit AS lim
                         FROM flow.concurrency_wait w
                         JOIN flow.node n ON n.job_id = w.job_id
                        WHERE w.key = v_key
                        ORDER BY w.job_id LOOP
                EXIT WHEN v_running + cardinality(v_admit) >= v_w.lim;
                v_admit := v_admit || v_w.job_id;
            END LOOP;
            EXIT WHEN v_admit = '{}';
            WITH rel AS (
                UPDATE public.river_job j
                   SET state = CASE WHEN j.scheduled_at > now() THEN 'scheduled'::public.river_job_state
                                    ELSE 'available'::public.river_job_state END
                 WHERE j.id = ANY (v_admit) AND j.state::text = 'pending'
                RETURNING j.id, j.queue, j.state
            )
            SELECT coalesce(array_agg(id), '{}'), v_queues || coalesce(array_agg(DISTINCT queue) FILTER (WHERE state = 'available'), '{}')
              INTO v_done, v_queues
              FROM rel;
            -- A waiting node no longer pending (finished by a transaction
            -- that committed meanwhile) leaves the queue without a slot.
            DELETE FROM flow.concurrency_wait WHERE job_id = ANY (v_admit);
            v_running := v_running + cardinality(v_done);
            EXIT WHEN cardinality(v_done) = cardinality(v_admit);
        END LOOP;
        UPDATE flow.concurrency_slot s SET running = v_running WHERE s.key = v_key AND s.running <> v_running;
    END LOOP;
    PERFORM set_config('flow.in_trigger', coalesce(v_prev, 'off'), true);

    PERFORM pg_notify('public.river_insert', json_build_object('queue', q)::text)
       FROM (SELECT DISTINCT q FROM unnest(v_queues) AS q) x;
END;
$$;
COMMENT ON FUNCTION flow.concurrency_settle(bigint[], bigint[], bigint[], bigint[]) IS 'Internal: counts slots given back and taken, queues nodes ready to run under a concurrency key and admits the oldest waiting ones while their key has a free slot.';
