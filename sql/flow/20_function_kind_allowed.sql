-- The first of p_kinds that runs owned by p_owner may not have, or NULL when
-- all are allowed (see flow.kind_grant). Admins may have any kind.
CREATE OR REPLACE FUNCTION flow.kind_allowed(p_owner name, p_kinds text[]) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k FROM unnest(p_kinds) AS k
     WHERE NOT flow.is_admin(p_owner)
       AND NOT EXISTS (
           SELECT 1 FROM flow.kind_grant g
            WHERE (g.role = 'public'
                   OR EXISTS (SELECT 1 FROM pg_roles r JOIN pg_roles o ON o.rolname = p_owner
                               WHERE r.rolname = g.role AND pg_has_role(o.oid, r.oid, 'MEMBER')))
              AND k LIKE replace(replace(replace(replace(replace(g.pattern, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%'), '?', '_'))
     ORDER BY k LIMIT 1;
$$;

COMMENT ON FUNCTION flow.kind_allowed(name, text[]) IS 'The first kind a role''s runs may not have (flow.kind_grant), or NULL.';
