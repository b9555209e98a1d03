-- Nodes added to a tree by its child runs, per top run, spread over a few
-- rows (shard: the inserting backend's pid modulo 16) so that concurrent
-- expansions do not queue on one row lock until their commits. The tree's
-- size is the top run's node_count plus their sum (flow.tree_size).
CREATE TABLE flow.tree_count (
    root_run_id bigint   NOT NULL REFERENCES flow.run (id) ON DELETE CASCADE,
    shard       smallint NOT NULL,
    nodes       integer  NOT NULL,
    PRIMARY KEY (root_run_id, shard),
    CONSTRAINT tree_count_shard_in_range CHECK (shard BETWEEN 0 AND 15),
    CONSTRAINT tree_count_nodes_positive CHECK (nodes > 0)
) WITH (fillfactor = 50);

COMMENT ON TABLE flow.tree_count IS 'Nodes added by child runs to each top run''s tree, in up to 16 rows per tree (see flow.tree_size).';
