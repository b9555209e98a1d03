-- The limits on runs owned by p_owner (flow.limits): its own row's values,
-- the default row's where it has none.
CREATE OR REPLACE FUNCTION flow.limits_of(p_owner name) RETURNS flow.limits
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_owner,
           coalesce(o.max_nodes, d.max_nodes), coalesce(o.max_depth, d.max_depth),
           coalesce(o.max_tree_nodes, d.max_tree_nodes), coalesce(o.max_spec_bytes, d.max_spec_bytes),
           coalesce(o.max_input_bytes, d.max_input_bytes), coalesce(o.max_delay, d.max_delay)
      FROM flow.limits d LEFT JOIN flow.limits o ON o.role = p_owner
     WHERE d.role = '*';
$$;

COMMENT ON FUNCTION flow.limits_of(name) IS 'The limits on a role''s runs: its own row of flow.limits, the default row''s values where it has none.';
