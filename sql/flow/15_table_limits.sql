-- Limits on what a role's runs may hold, set by admins (flow_admin) and read
-- by flow.start and flow.expand for the run's owner: the owner's own row,
-- else the default row (role '*'); a NULL column takes the default row's
-- value. Nothing a starter controls can raise them: flow.start's max_nodes
-- argument, the setting flow.max_nodes and a spec's "max_depth" and
-- "max_tree_nodes" may only lower them.
--
--   UPDATE flow.limits SET max_tree_nodes = 10000 WHERE role = '*';
--   INSERT INTO flow.limits (role, max_nodes) VALUES ('team_ingest', 200000);
CREATE TABLE flow.limits (
    role            name     PRIMARY KEY,
    max_nodes       integer,  -- nodes in one run (spec or expansion)
    max_depth       integer,  -- levels of child runs below a top run
    max_tree_nodes  integer,  -- nodes in a top run's whole tree
    max_spec_bytes  integer,  -- a spec's size (jsonb, as stored)
    max_input_bytes integer,  -- a run's input's size
    max_delay       interval, -- how far ahead an "at" may be
    CONSTRAINT limits_positive CHECK (max_nodes > 0 AND max_depth >= 0 AND max_tree_nodes > 0
                                      AND max_spec_bytes > 0 AND max_input_bytes > 0 AND max_delay > interval '0'),
    CONSTRAINT limits_default_complete CHECK (role <> '*' OR num_nulls(max_nodes, max_depth, max_tree_nodes, max_spec_bytes,
                                                                    max_input_bytes, max_delay) = 0)
);

COMMENT ON TABLE flow.limits IS 'Limits on runs per owner role (role ''*'' is the default row); only admins change them, and a starter can only lower them.';

-- The defaults.
INSERT INTO flow.limits (role, max_nodes, max_depth, max_tree_nodes, max_spec_bytes, max_input_bytes, max_delay)
VALUES ('*', 100000, 32, 1000000, 16777216, 1048576, interval '366 days')
ON CONFLICT (role) DO NOTHING;
