-- The number of nodes in a top run's tree: its own and its child runs'.
CREATE OR REPLACE FUNCTION flow.tree_size(p_root_run_id bigint) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.node_count + coalesce((SELECT sum(t.nodes) FROM flow.tree_count t WHERE t.root_run_id = r.id), 0)
      FROM flow.run r WHERE r.id = p_root_run_id;
$$;
COMMENT ON FUNCTION flow.tree_size(bigint) IS 'Nodes in a top run''s whole tree (its own and every child run''s).';
