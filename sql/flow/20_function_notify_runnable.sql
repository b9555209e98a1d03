-- Wakes the workers that are to fetch p_count jobs of each of p_queues,
-- made available by this statement.
--
-- Every idle worker of a queue LISTENs on public.river_insert, and each one
-- that hears a notification fetches: with 50 workers a one-node release
-- would cost 50 deliveries and 50 fetches, 49 of which find nothing
-- (docs/SCALING.md, "The wake-up herd"). So when every live worker of the
-- queue says it listens on a channel of its own (public.htdag_wake_<id>;
-- its heartbeat records its free slots in flow.worker.free_slots only
-- then), this chooses workers and notifies only them: starting at a place
-- given by this backend's pid and the jobs already made available in this
-- transaction (so that a StartMany's roots spread), it walks the queue's
-- workers that had free slots at their last heartbeat until their slots
-- cover p_count, then one more, in case one of them has just died or
-- filled up. Otherwise (a worker that does not say, a fleet of one or two,
-- or not enough free slots) every worker of the queue is woken on
-- public.river_insert, as River itself does. The payload there carries "n",
-- the jobs made available so far in this transaction, with which a worker
-- whose River listens on its session still makes the same choice for itself
-- (Go: flow/wake_filter.go). A miss (a roster a second old) is covered by
-- River's poll (FetchPollInterval, 1 s).
CREATE OR REPLACE FUNCTION flow.notify_runnable(p_queues text[], p_count bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before bigint := coalesce(nullif(current_setting('flow.runnable_in_xact', true), '')::bigint, 0);
    v_q      text;
    v_ids    bigint[];
    v_free   integer[];
    v_own    boolean;
    v_w      integer;
    v_start  integer;
    v_k      integer;
    v_cover  bigint;
    v_chosen bigint[];
    v_extra  boolean;
    v_self   bigint := nullif(current_setting('flow.releasing_worker', true), '')::bigint;
    v_at     integer;
BEGIN
    PERFORM set_config('flow.runnable_in_xact', (v_before + p_count)::text, true);
    FOREACH v_q IN ARRAY p_queues LOOP
        SELECT array_agg(w.id ORDER BY w.id), array_agg((w.free_slots ->> v_q)::integer ORDER BY w.id),
               bool_and(coalesce(w.free_slots ? v_q, false)) -- (bool_and skips NULLs: a worker that does not say must count)
          INTO v_ids, v_free, v_own
          FROM flow.worker w
         WHERE w.stopped_at IS NULL AND w.dead_at IS NULL AND v_q = ANY (w.queues)
           AND w.last_seen_at > now() - interval '2500 ms';
        v_chosen := NULL;
        IF v_own AND cardinality(v_ids) > 2 THEN
            v_w := cardinality(v_ids);
            v_at := array_position(v_ids, v_self);
            IF v_at IS NOT NULL THEN
                v_start := v_at - 1;
                v_free[v_at] := greatest(v_free[v_at], 1);
            ELSE
                v_start := ((pg_backend_pid() + v_before) % v_w)::integer;
            END IF;
            v_cover := 0;
            v_extra := false;
            v_chosen := '{}';
            FOR v_i IN 0 .. v_w - 1 LOOP
                v_k := (v_start + v_i) % v_w + 1;
                CONTINUE WHEN v_free[v_k] <= 0;
                IF v_cover >= p_count THEN
                    v_extra := true;
                END IF;
                v_chosen := v_chosen || v_ids[v_k];
                EXIT WHEN v_extra;
                v_cover := v_cover + v_free[v_k];
            END LOOP;
            IF NOT v_extra THEN
                v_chosen := NULL; -- not enough free slots to spare one: wake everyone
            END IF;
        END IF;
        IF v_chosen IS NULL THEN
            PERFORM pg_notify('public.river_insert', json_build_object('queue', v_q, 'n', v_before + p_count)::text);
        ELSE
            PERFORM pg_notify('public.htdag_wake_' || c, json_build_object('queue', v_q)::text)
               FROM unnest(v_chosen) AS c;
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION flow.notify_runnable(text[], bigint) IS 'Wakes the workers that are to fetch jobs just made available: enough of the queue''s workers with free slots to cover them and one more (the worker whose completion released them first), each on its own channel public.htdag_wake_<id>, or every worker on public.river_insert when they cannot be chosen.';
