-- Applies flow.start_special's outcomes to the jobs; returns (job id, run id,
-- new state) of each job it finished, for the release trigger's next round.
CREATE OR REPLACE FUNCTION flow.finish_special(p_jobs bigint[], p_states text[], p_outputs jsonb[], p_errors text[])
RETURNS TABLE (job_id bigint, run_id bigint, state text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE public.river_job j
       SET state = o.state::public.river_job_state,
           finalized_at = now(),
           attempt = greatest(j.attempt, 1),
           attempted_at = coalesce(j.attempted_at, now()),
           metadata = CASE WHEN o.output IS NULL THEN j.metadata ELSE j.metadata || jsonb_build_object('output', o.output) END,
           errors = CASE WHEN o.error IS NULL THEN j.errors
                         ELSE array_append(j.errors, jsonb_build_object('at', now(), 'attempt', greatest(j.attempt, 1),
                                                                         'trace', '', 'error', o.error)) END
      FROM unnest(p_jobs, p_states, p_outputs, p_errors) AS o(id, state, output, error)
     WHERE j.id = o.id AND j.state::text = 'pending'
    RETURNING j.id, (j.metadata ->> 'flow_run')::bigint, j.state::text;
$$;
COMMENT ON FUNCTION flow.finish_special(bigint[], text[], jsonb[], text[]) IS 'Internal: finishes sub-workflow or map nodes that could not start or had nothing to do.';
