-- Starts released sub-workflow and map nodes (still pending), each in its own
-- subtransaction, and returns those that finished at once: completed with an
-- output (a map over []), or discarded with an error (a node that cannot
-- start fails like a task; it does not fail the transaction that released it).
-- Wait nodes among them are parked instead (flow.park_waits): they never
-- finish at once.
CREATE OR REPLACE FUNCTION flow.start_special(p_jobs bigint[])
RETURNS TABLE (job_id bigint, state text, output jsonb, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id  bigint;
    v_out jsonb;
BEGIN
    IF EXISTS (SELECT 1 FROM public.river_job j WHERE j.id = ANY (p_jobs) AND j.kind = 'flow.wait') THEN
        PERFORM flow.park_waits(p_jobs);
    END IF;
    FOR v_id IN SELECT j.id FROM public.river_job j
                 WHERE j.id = ANY (p_jobs) AND j.state::text = 'pending' AND j.kind <> 'flow.wait' ORDER BY j.id LOOP
        BEGIN
            v_out := flow.start_node(v_id);
            IF v_out IS NOT NULL THEN
                job_id := v_id; state := 'completed'; output := v_out; error := NULL;
                RETURN NEXT;
            END IF;
        EXCEPTION WHEN invalid_parameter_value THEN
            job_id := v_id; state := 'discarded'; output := NULL; error := 'htdag: ' || SQLERRM;
            RETURN NEXT;
        END;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION flow.start_special(bigint[]) IS 'Internal: starts released sub-workflow and map nodes (and parks wait nodes); returns those finished at once, with their outcome.';
