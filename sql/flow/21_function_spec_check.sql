-- The top-level checker's outputs without the hierarchy's (see
-- flow.spec_check_at); kept for callers from before hierarchy.
CREATE OR REPLACE FUNCTION flow.spec_check(spec jsonb, max_nodes integer DEFAULT NULL,
                                           OUT problem text, OUT ids text[],
                                           OUT edge_parent integer[], OUT edge_child integer[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.problem, c.ids, c.edge_parent, c.edge_child FROM flow.spec_check_at(spec, max_nodes, false, true) c;
$$;
COMMENT ON FUNCTION flow.spec_check(jsonb, integer) IS 'Checks a workflow spec: the first problem, or (when valid) its ids and edges as ordinals. Kept for callers from before hierarchy; flow.start uses flow.spec_check_at.';
