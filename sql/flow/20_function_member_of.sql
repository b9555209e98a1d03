-- The roles p_role is a member of (itself included), or NULL when it is an
-- admin (it sees every run). Views and functions compare a run's owner
-- against this list, computed once per statement.
CREATE OR REPLACE FUNCTION flow.member_of(p_role name) RETURNS name[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN flow.is_admin(p_role) THEN NULL
                ELSE ARRAY(SELECT r.rolname FROM pg_roles r JOIN pg_roles me ON me.rolname = p_role
                            WHERE pg_has_role(me.oid, r.oid, 'MEMBER'))
           END;
$$;

COMMENT ON FUNCTION flow.member_of(name) IS 'The roles a role is a member of (itself included); NULL for an admin, who sees every run.';
