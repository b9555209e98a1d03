-- Who may do what. Nothing in the schema is callable or readable by everyone;
-- the roles of 01_roles.sql get exactly this:
--   flow_starter: flow.start, flow.cancel, flow.retry and flow.signal, which run as their
--                 owner (SECURITY DEFINER, fixed search_path and flow.*
--                 settings) and check who calls, so a starter needs no right
--                 on river_job or the tables; the same for its roles'
--                 schedules (flow.schedule_create, _pause, _resume, _delete),
--                 which it may read in flow.schedules and flow.schedule_ticks
--                 (with the views' helpers);
--   flow_reader:  the views flow.runs, flow.nodes, flow.blocked and
--                 flow.workers, flow.run and flow.node (row level security:
--                 its roles' runs), flow.tree and flow.node_stats; the views'
--                 own helpers too, as a view calls its functions with its
--                 reader's rights;
--   flow_admin:   both, and flow.kind_grant and flow.limits.
-- flow.signal is granted on its own too: a role with USAGE on the schema and
-- EXECUTE on it alone (an approver, say) may signal its roles' runs' wait
-- nodes and do nothing else (README "Signals and waits").
-- Every migration that creates a function ends with this file (the generator,
-- internal/sqlsnap, appends it), so a new function is never left callable by
-- PUBLIC.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flow FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA flow FROM PUBLIC;

GRANT USAGE ON SCHEMA flow TO flow_starter, flow_reader, flow_admin;
GRANT EXECUTE ON FUNCTION flow.start(jsonb, integer, name), flow.cancel(bigint), flow.retry(bigint) TO flow_starter;
GRANT EXECUTE ON FUNCTION flow.signal(bigint, text, jsonb) TO flow_starter;
GRANT EXECUTE ON FUNCTION flow.schedule_create(text, jsonb, text, interval, text, text, text, boolean, timestamptz, name, boolean),
                          flow.schedule_pause(text, name), flow.schedule_resume(text, timestamptz, name),
                          flow.schedule_delete(text, name) TO flow_starter;
GRANT SELECT ON flow.schedules, flow.schedule_ticks TO flow_starter, flow_reader;
GRANT EXECUTE ON FUNCTION flow.caller(), flow.is_admin(name), flow.member_of(name) TO flow_starter;
GRANT SELECT ON flow.runs, flow.nodes, flow.blocked, flow.workers, flow.run, flow.node TO flow_reader;
GRANT EXECUTE ON FUNCTION flow.tree(bigint), flow.node_stats(interval), flow.run_input(bigint), flow.worker_alive(bigint),
                          flow.caller(), flow.is_admin(name), flow.member_of(name), flow.can_see(name) TO flow_reader;
GRANT flow_starter, flow_reader TO flow_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON flow.kind_grant, flow.limits TO flow_admin;
