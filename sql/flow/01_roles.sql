-- Three roles without login, to be granted to real users (90_grants.sql says
-- what each may do):
--   flow_starter  may call flow.start, flow.cancel, flow.retry and flow.signal, for runs
--                 of roles it is a member of, with the kinds granted to them;
--   flow_reader   may read the flow views (and flow.run), seeing the runs of
--                 roles it is a member of, and call flow.tree;
--   flow_admin    sees and controls every run, starts any kind, and manages
--                 flow.kind_grant and flow.limits.
-- Roles belong to the whole cluster: creating them is skipped when another
-- database's migration already did. A member of flow_admin is an admin in
-- every database of the cluster where htdag is installed; to scope it, give
-- each database's admins a role of their own and grant it CONNECT on that
-- database only (README "Security").
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
DO $$
BEGIN
    CREATE ROLE flow_admin NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
COMMENT ON ROLE flow_starter IS 'htdag: may call flow.start, flow.cancel, flow.retry and flow.signal for its own roles'' runs, nothing else.';
COMMENT ON ROLE flow_reader IS 'htdag: may read the flow views and flow.run, for its own roles'' runs, nothing else.';
COMMENT ON ROLE flow_admin IS 'htdag: sees and controls every run, starts any kind, manages flow.kind_grant and flow.limits.';
