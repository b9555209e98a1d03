-- Whether p_role may do anything with any run: a superuser, the owner of the
-- flow schema (the role that migrated it, which workers run as), or a member
-- of flow_admin. A role that no longer exists is not.
CREATE OR REPLACE FUNCTION flow.is_admin(p_role name) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT r.rolsuper
                         OR r.oid = (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'flow')
                         OR pg_has_role(r.oid, 'flow_admin', 'MEMBER')
                       FROM pg_roles r WHERE r.rolname = p_role), false);
$$;

COMMENT ON FUNCTION flow.is_admin(name) IS 'Whether a role sees and controls every run and is bound by no kind grant: superusers, the flow schema''s owner, members of flow_admin.';
