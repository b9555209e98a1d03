-- Who may do what. Nothing in the schema is callable or readable by everyone;
-- the roles of 01_roles.sql get exactly this:
--   flow_starter: flow.start, flow.cancel and flow.retry, which run as their
--                 owner (SECURITY DEFINER, fixed search_path) and check their
--                 input, so a starter needs no right on river_job or the tables;
--   flow_reader:  the views flow.runs, flow.nodes, flow.blocked and
--                 flow.workers, and flow.tree and flow.node_stats (read-only, SECURITY DEFINER).
-- Every migration that creates a function ends with this file (the generator,
-- internal/sqlsnap, appends it), so a new function is never left callable by
-- PUBLIC.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flow FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA flow FROM PUBLIC;

GRANT USAGE ON SCHEMA flow TO flow_starter, flow_reader;
GRANT EXECUTE ON FUNCTION flow.start(jsonb, integer), flow.cancel(bigint), flow.retry(bigint) TO flow_starter;
GRANT SELECT ON flow.runs, flow.nodes, flow.blocked, flow.workers TO flow_reader;
GRANT EXECUTE ON FUNCTION flow.tree(bigint), flow.node_stats(interval) TO flow_reader;
GRANT EXECUTE ON FUNCTION flow.worker_alive(bigint) TO flow_reader; -- flow.workers calls it as its reader
