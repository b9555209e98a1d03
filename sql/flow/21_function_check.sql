-- flow.check(run_id): what is wrong with one run (any state), or with NULL
-- with every unfinished run; no rows when all is well. It compares the
-- counters the trigger keeps with the jobs themselves, and looks for runs that
-- can never finish: nothing runnable (a wait node waiting for a signal can
-- finish), lost releases, nodes waiting for child
-- runs that already finished, orphaned child runs, nodes runnable before
-- their parents completed. And the fleet: nodes running on a worker that is
-- not alive (lost or dead: a rescue is due), nodes waiting in a queue, or
-- with a kind, that no live worker serves (they would wait forever unseen),
-- and runs whose next node is scheduled more than a day ahead (nothing runs
-- until then; say so, in case that "at" was a mistake). With every
-- unfinished run (NULL) it also compares each concurrency key's count with
-- the nodes holding its slots (a leaked or lost slot), and with any run its
-- nodes queued for a slot that is free (a lost admission) or no longer
-- pending. `worker doctor` prints it.
--
-- Each problem has a category: 'consistency' (a counter disagrees with the
-- jobs: an engine bug), 'stuck' (the run can never finish as it is),
-- 'fleet' (no live worker will do what is waiting) and 'schedule' (nothing
-- runs for a long while). The first two are the engine's invariants; the
-- last two depend on the workers and the clock.
CREATE OR REPLACE FUNCTION flow.check(p_run_id bigint DEFAULT NULL)
RETURNS TABLE (run_id bigint, node_id text, problem text, category text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH runs AS (
        -- Two branches, each through an index (a CASE here read every run).
        SELECT r.* FROM flow.run r WHERE r.id = p_run_id
        UNION ALL
        SELECT r.* FROM flow.run r WHERE p_run_id IS NULL AND r.state IN ('pending', 'running')
    ), live AS (
        SELECT w.client_id, w.queues, w.kinds FROM flow.worker w
         WHERE w.stopped_at IS NULL AND w.dead_at IS NULL AND flow.worker_alive(w.id)
    ), nodes AS (
        SELECT n.run_id, n.node_id, n.job_id, n.waiting, n.failed_parents, n.skipped_parents, n.trigger_rule,
               n.parents, n.mode, j.state::text AS state,
               j.state IN ('pending', 'scheduled') AND j.metadata ? 'flow_waiting_since' AS signal_wait,
               j.queue, j.kind, j.scheduled_at, j.attempted_by[array_upper(j.attempted_by, 1)] AS client_id,
               c.id AS child_id, c.state AS child_state,
               p.unfinished AS parents_unfinished, p.failed AS parents_failed, p.skipped AS parents_skipped,
               flow.rule_decision(n.trigger_rule, p.unfinished, p.failed, p.skipped) AS decision,
               n.concurrency_key, n.concurrency_limit,
               n.concurrency_key IS NOT NULL AND EXISTS (SELECT 1 FROM flow.concurrency_wait w WHERE w.job_id = n.job_id) AS queued
          FROM flow.node n
          JOIN runs ON runs.id = n.run_id
          LEFT JOIN public.river_job j ON j.id = n.job_id
          LEFT JOIN flow.run c ON c.parent_job_id = n.job_id
         CROSS JOIN LATERAL (
             SELECT count(*) FILTER (WHERE pj.state <> 'completed')::integer AS unfinished,
                    count(*) FILTER (WHERE pj.state IN ('cancelled', 'discarded'))::integer AS failed,
                    count(*) FILTER (WHERE pj.state = 'completed' AND pj.metadata ? 'flow_skipped')::integer AS skipped
               FROM public.river_job pj
              WHERE pj.id = ANY (n.parents)) p
    ), counts AS (
        SELECT runs.id,
               count(*) FILTER (WHERE nodes.state IS NULL OR nodes.state NOT IN ('completed', 'cancelled', 'discarded'))::integer AS unfinished,
               count(*) FILTER (WHERE nodes.state IN ('cancelled', 'discarded'))::integer AS failed,
               count(*) FILTER (WHERE nodes.state IN ('available', 'scheduled', 'running', 'retryable') OR nodes.signal_wait
                                   OR (nodes.state = 'pending' AND nodes.child_state IN ('pending', 'running'))
                                   OR (nodes.state = 'pending' AND nodes.queued))::integer AS runnable,
               count(*) FILTER (WHERE nodes.state IN ('available', 'running', 'retryable') OR nodes.signal_wait
                                   OR (nodes.state = 'pending' AND nodes.child_state IN ('pending', 'running')))::integer AS active,
               min(nodes.scheduled_at) FILTER (WHERE nodes.state = 'scheduled') AS next_at,
               bool_or(nodes.state IS NULL) AS deleted
          FROM runs JOIN nodes ON nodes.run_id = runs.id
         GROUP BY runs.id
    )
    SELECT r.id, NULL::text,
           format('unfinished is %s but %s nodes are not finished', r.unfinished, c.unfinished),
           'consistency'::text
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.unfinished <> c.unfinished AND NOT c.deleted
    UNION ALL
    SELECT r.id, NULL, format('failed is %s but %s nodes are cancelled or discarded', r.failed, c.failed),
           'consistency'
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.failed <> c.failed AND NOT c.deleted
    UNION ALL
    SELECT r.id, NULL, format('run is %s but none of its nodes can run (stuck)', r.state),
           'stuck'
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.runnable = 0
    UNION ALL
    SELECT r.id, NULL, 'some of its jobs were deleted while the run is unfinished',
           'stuck'
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.deleted
    UNION ALL
    SELECT n.run_id, n.node_id, format('waiting is %s but %s parents have not completed', n.waiting, n.parents_unfinished),
           'consistency'
      FROM nodes n
     WHERE n.state IS NOT NULL AND n.waiting <> n.parents_unfinished
    UNION ALL
    SELECT n.run_id, n.node_id,
           format('failed_parents is %s and skipped_parents %s but %s parents failed and %s were skipped',
                  n.failed_parents, n.skipped_parents, n.parents_failed, n.parents_skipped),
           'consistency'
      FROM nodes n
     WHERE n.state = 'pending' AND (n.failed_parents <> n.parents_failed OR n.skipped_parents <> n.parents_skipped)
    UNION ALL
    SELECT n.run_id, n.node_id,
           CASE WHEN n.decision <> 'run' THEN format('pending although its trigger rule (%s) says %s (a lost decision)',
                                                    coalesce(n.trigger_rule, 'all_success'), n.decision)
                WHEN n.trigger_rule IS NOT NULL THEN format('pending although its trigger rule (%s) lets it run (a lost release)', n.trigger_rule)
                WHEN n.mode IS NULL THEN 'pending although all its parents completed (a lost release)'
                ELSE format('a %s node whose parents completed, but its child run never started', n.mode) END,
           'stuck'
      FROM nodes n
     WHERE n.state = 'pending' AND n.decision IS NOT NULL AND n.child_id IS NULL AND NOT n.signal_wait
       AND NOT (n.queued AND n.decision = 'run')
    UNION ALL
    SELECT n.run_id, n.node_id,
           CASE WHEN n.state IS DISTINCT FROM 'pending'
                THEN format('%s but still queued for a slot of concurrency key %s', coalesce(n.state, 'deleted'), to_json(n.concurrency_key))
                ELSE format('waits for a slot of concurrency key %s, which has %s of %s in use (a lost admission)',
                            to_json(n.concurrency_key), coalesce(s.running, 0), n.concurrency_limit) END,
           CASE WHEN n.state IS DISTINCT FROM 'pending' THEN 'consistency' ELSE 'stuck' END
      FROM nodes n
      LEFT JOIN flow.concurrency_slot s ON s.key = n.concurrency_key
     WHERE n.queued
       AND (n.state IS DISTINCT FROM 'pending'
            OR (coalesce(s.running, 0) < n.concurrency_limit
                AND NOT EXISTS (SELECT 1 FROM flow.concurrency_wait w
                                 WHERE w.key = n.concurrency_key AND w.job_id < n.job_id)))
    UNION ALL
    -- Concurrency keys span runs: their counts are checked with every run.
    SELECT NULL, NULL,
           format('concurrency key %s counts %s running but %s of its nodes hold a slot (available, scheduled, running or retryable)',
                  to_json(coalesce(s.key, h.key)), coalesce(s.running, 0), coalesce(h.holding, 0)),
           'consistency'
      FROM (SELECT * FROM flow.concurrency_slot WHERE p_run_id IS NULL) s
      FULL JOIN (SELECT n.concurrency_key AS key, count(*)::integer AS holding
                   FROM flow.node n JOIN public.river_job j ON j.id = n.job_id
                  WHERE p_run_id IS NULL AND n.concurrency_key IS NOT NULL
                    AND j.state IN ('available', 'scheduled', 'running', 'retryable')
                  GROUP BY n.concurrency_key) h ON h.key = s.key
     WHERE coalesce(s.running, 0) <> coalesce(h.holding, 0)
    UNION ALL
    SELECT n.run_id, n.node_id, format('pending, waiting for its child run %s, which is already %s', n.child_id, n.child_state),
           'stuck'
      FROM nodes n
     WHERE n.state = 'pending' AND n.child_state IN ('completed', 'failed', 'cancelled')
    UNION ALL
    SELECT r.id, NULL, format('its node (job %s) is already %s but the run is %s and not being cancelled (an orphaned child run)',
                              r.parent_job_id, pj.state, r.state),
           'stuck'
      FROM runs r JOIN public.river_job pj ON pj.id = r.parent_job_id
     WHERE r.state IN ('pending', 'running')
       AND (pj.state IN ('completed', 'discarded') OR (pj.state = 'cancelled' AND r.cancelled_at IS NULL))
    UNION ALL
    SELECT n.run_id, n.node_id, format('%s although its trigger rule (%s) is not met: %s parents have not completed',
                                       n.state, coalesce(n.trigger_rule, 'all_success'), n.parents_unfinished),
           'stuck'
      FROM nodes n
     WHERE n.state IN ('available', 'scheduled', 'running', 'retryable') AND n.decision IS DISTINCT FROM 'run'
    UNION ALL
    SELECT n.run_id, n.node_id,
           CASE WHEN w.id IS NULL
                THEN format('running on River client %s, which is not a live htdag worker (it died before registering?)', n.client_id)
                ELSE format('running on worker %s (%s, pid %s), which is %s; it runs again once a live worker rescues it',
                            w.id, w.host, w.pid,
                            CASE WHEN w.dead_at IS NOT NULL THEN 'dead since ' || w.dead_at
                                 WHEN w.stopped_at IS NOT NULL THEN 'stopped since ' || w.stopped_at
                                 ELSE 'lost (its liveness lock is gone) since its last heartbeat at ' || w.last_seen_at END)
           END,
           'fleet'
      FROM nodes n
      LEFT JOIN flow.worker w ON w.client_id = n.client_id
     WHERE n.state = 'running'
       AND NOT EXISTS (SELECT 1 FROM live WHERE live.client_id = n.client_id)
       AND (w.id IS NOT NULL OR n.client_id LIKE 'htdag\_%')
    UNION ALL
    SELECT n.run_id, n.node_id,
           CASE WHEN NOT EXISTS (SELECT 1 FROM live WHERE n.queue = ANY (live.queues))
                THEN format('%s in queue %s, which no live worker serves', n.state, to_json(n.queue))
                ELSE format('%s with kind %s, which no live worker serving queue %s has a worker for', n.state, to_json(n.kind), to_json(n.queue))
           END,
           'fleet'
      FROM nodes n
     WHERE n.state IN ('available', 'scheduled', 'retryable') AND n.mode IS NULL
       AND NOT EXISTS (SELECT 1 FROM live WHERE n.queue = ANY (live.queues) AND (live.kinds IS NULL OR n.kind = ANY (live.kinds)))
    UNION ALL
    SELECT r.id, NULL, format('nothing in it runs before %s, when its earliest scheduled node is due', c.next_at),
           'schedule'
      FROM runs r JOIN counts c ON c.id = r.id
     WHERE r.state IN ('pending', 'running') AND c.active = 0 AND c.next_at > now() + interval '1 day';
$$;
COMMENT ON FUNCTION flow.check(bigint) IS 'Problems with runs (counts that disagree with their jobs, stuck runs, lost releases); empty when healthy. One run, or (NULL) every unfinished run.';
