-- The first problem with a spec, or NULL when flow.start would accept it; for
-- callers that want the message without an exception (the River door checks
-- a flow.start job's spec with it).
CREATE OR REPLACE FUNCTION flow.spec_problem(spec jsonb, max_nodes integer DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (flow.spec_check(spec, max_nodes)).problem;
$$;
COMMENT ON FUNCTION flow.spec_problem(jsonb, integer) IS 'The first problem with a workflow spec, or NULL when flow.start would accept it.';
