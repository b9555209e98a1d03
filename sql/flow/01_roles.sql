-- Two roles without login, to be granted to real users (90_grants.sql says
-- what each may do):
--   flow_starter  may only call flow.start, flow.cancel and flow.retry;
--   flow_reader   may only read the flow views and call flow.tree.
-- Roles belong to the whole cluster: creating them is skipped when another
-- database's migration already did.
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
