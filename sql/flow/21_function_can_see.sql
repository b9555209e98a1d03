-- Whether the caller may see and control runs owned by p_owner: an admin, or
-- a member of the owner role. (Views use flow.member_of once per statement
-- instead of calling this per row.)
CREATE OR REPLACE FUNCTION flow.can_see(p_owner name) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT flow.is_admin(flow.caller()) OR p_owner = ANY (flow.member_of(flow.caller()));
$$;

COMMENT ON FUNCTION flow.can_see(name) IS 'Whether the caller may see and control runs of p_owner: an admin, or a member of that role.';
