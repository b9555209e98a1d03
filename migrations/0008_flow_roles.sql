-- Two roles without login, to be granted to real users:
--   flow_starter  may only call flow.start, flow.cancel and flow.retry;
--   flow_reader   may only read the flow views (flow.runs, flow.nodes, flow.blocked).
-- Those three functions run as their owner (SECURITY DEFINER, fixed
-- search_path) and check their input, so a starter needs no right on
-- river_job or the flow tables. Roles belong to the whole cluster: creating
-- them is skipped when another database's migration already did.
DO $$
BEGIN
    CREATE ROLE flow_starter NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE flow_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
COMMENT ON ROLE flow_starter IS 'htdag: may call flow.start, flow.cancel and flow.retry, nothing else.';
COMMENT ON ROLE flow_reader IS 'htdag: may read the flow views, nothing else.';

ALTER FUNCTION flow.start(jsonb, integer) SECURITY DEFINER;
ALTER FUNCTION flow.cancel(bigint) SECURITY DEFINER;
ALTER FUNCTION flow.retry(bigint) SECURITY DEFINER;

-- Nothing in the schema is callable by everyone; grants say who may.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flow FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA flow FROM PUBLIC;

GRANT USAGE ON SCHEMA flow TO flow_starter, flow_reader;
GRANT EXECUTE ON FUNCTION flow.start(jsonb, integer), flow.cancel(bigint), flow.retry(bigint) TO flow_starter;
GRANT SELECT ON flow.runs, flow.nodes, flow.blocked TO flow_reader;
