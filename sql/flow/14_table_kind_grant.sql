-- Which roles may start which job kinds: a node of a run may have a kind only
-- if the run's owner is a member of a role granted a pattern that matches it
-- (or is unrestricted: a superuser, the owner of the flow schema, or a member
-- of flow_admin; see flow.kind_allowed). Patterns are globs: * any run of
-- characters, ? one character ("ingest.*", "noop"). Checked by flow.start
-- (nested workflows included), flow.expand and the River door, with SQLSTATE
-- 42501 naming the kind. Admins (flow_admin) manage the rows with plain SQL:
--
--   INSERT INTO flow.kind_grant (role, pattern) VALUES ('team_ingest', 'ingest.*');
--
-- role 'public' grants a pattern to every role.
CREATE TABLE flow.kind_grant (
    role       name        NOT NULL,
    pattern    text        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (role, pattern),
    CONSTRAINT kind_grant_pattern_valid CHECK (length(pattern) BETWEEN 1 AND 127 AND pattern !~ '[[:cntrl:]]')
);

COMMENT ON TABLE flow.kind_grant IS 'Job kinds each role may start (glob patterns: * and ?); role public grants to everyone. Unrestricted: superusers, the flow schema''s owner, members of flow_admin.';
COMMENT ON COLUMN flow.kind_grant.pattern IS 'A glob over job kinds: * matches any run of characters, ? one character.';
