-- Run deadlines (README "Run deadlines"): a run whose spec has "timeout_ms"
-- gets one River job of kind flow.run_deadline, args {"run_id": N},
-- scheduled at its deadline (now + timeout_ms), in the transaction that
-- starts it (flow.start, flow.start_child) or retries it (flow.retry_run: a
-- retried run gets its whole budget again, counted from the retry). The job
-- goes to the run's deadline_queue (its spec's "queue", else "default") at
-- priority 1; at the deadline flow.fire_due_timers (each fleet member,
-- every second) makes it available (River's scheduler would too, but only
-- every 5 s), and htdag's worker (flow.DeadlineWorker, installed by
-- flow.RiverConfig) calls flow.cancel_at_deadline. It is a plain River job, not a node of the
-- run (no flow_run metadata): it is counted nowhere, no guard looks at it,
-- and flow.delete_finished_jobs cleans it. A run that finishes first deletes
-- its deadline job (the release trigger). Runs without "timeout_ms" never
-- come here.
CREATE OR REPLACE FUNCTION flow.arm_deadline(p_run_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run flow.run%ROWTYPE;
    v_job bigint;
BEGIN
    SELECT * INTO STRICT v_run FROM flow.run WHERE id = p_run_id;
    INSERT INTO public.river_job (args, kind, max_attempts, priority, queue, state, scheduled_at, tags)
    VALUES (jsonb_build_object('run_id', p_run_id), 'flow.run_deadline', 25, 1,
            v_run.deadline_queue,
            'scheduled', now() + make_interval(secs => v_run.timeout_ms / 1000.0),
            ARRAY['flow_deadline:' || p_run_id])
    RETURNING id INTO v_job;
    UPDATE flow.run
       SET deadline_at = now() + make_interval(secs => v_run.timeout_ms / 1000.0), deadline_job_id = v_job
     WHERE id = p_run_id;
END;
$$;
COMMENT ON FUNCTION flow.arm_deadline(bigint) IS 'Internal: schedules the flow.run_deadline job that cancels a run with "timeout_ms" at its deadline (now + timeout_ms).';
