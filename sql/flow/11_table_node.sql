-- One row per DAG node. job_id is the node's public.river_job row; there is
-- no foreign key to it, because River's cleaner deletes finished jobs (runs
-- are deleted whole instead: 20_function_delete_finished_runs.sql). The
-- node's state is its job's state.
--
-- A node's trigger rule decides, from how many of its parents finished and
-- how (waiting, failed_parents, skipped_parents), whether it runs, is
-- skipped or is cancelled: flow.rule_decision. A skipped node's job is
-- completed with metadata flow_skipped (its reason) and no output.
--
-- A wait node (mode 'wait', job kind flow.wait) runs no work: once released
-- it waits for flow.signal, parked by flow.park_waits (README "Signals and
-- waits").
--
-- Edges are kept on both ends as arrays of job ids: the release trigger
-- follows a completed node's children, and flow.check / flow.nodes read a
-- node's parents, each by primary key.
CREATE TABLE flow.node (
    job_id   bigint   PRIMARY KEY,
    run_id   bigint   NOT NULL REFERENCES flow.run (id) ON DELETE CASCADE,
    node_id  text     NOT NULL,
    parents  bigint[] NOT NULL DEFAULT '{}',
    children bigint[] NOT NULL DEFAULT '{}',
    waiting  integer  NOT NULL,
    mode     text,
    trigger_rule    text,
    condition       text,
    failed_parents  integer NOT NULL DEFAULT 0,
    skipped_parents integer NOT NULL DEFAULT 0,
    concurrency_key   text,
    concurrency_limit integer,
    CONSTRAINT node_id_valid CHECK (node_id !~ '[^A-Za-z0-9_.:-]' AND length(node_id) BETWEEN 1 AND 128),
    CONSTRAINT node_waiting_in_range CHECK (waiting BETWEEN 0 AND cardinality(parents)),
    CONSTRAINT node_id_unique_in_run UNIQUE (run_id, node_id),
    CONSTRAINT node_mode_valid CHECK (mode IN ('workflow', 'map', 'wait')),
    CONSTRAINT node_trigger_rule_valid CHECK (trigger_rule IN ('all_done', 'one_failed', 'none_failed')),
    CONSTRAINT node_condition_is_jsonpath CHECK (condition IS NULL OR condition::jsonpath IS NOT NULL),
    CONSTRAINT node_failed_parents_in_range CHECK (failed_parents BETWEEN 0 AND waiting),
    CONSTRAINT node_skipped_parents_in_range CHECK (skipped_parents BETWEEN 0 AND cardinality(parents) - waiting),
    CONSTRAINT node_concurrency_key_and_limit CHECK ((concurrency_key IS NULL) = (concurrency_limit IS NULL)),
    CONSTRAINT node_concurrency_limit_positive CHECK (concurrency_limit > 0),
    CONSTRAINT node_concurrency_only_on_tasks CHECK (concurrency_key IS NULL OR mode IS NULL)
) WITH (fillfactor = 50); -- room for HOT updates of waiting (measured: 7x cheaper on a 10,000-wide release)
ALTER TABLE flow.node ENABLE ROW LEVEL SECURITY; -- 50_policy_node_visible.sql

COMMENT ON TABLE flow.node IS 'One row per DAG node; job_id is its public.river_job row (no foreign key: River''s cleaner deletes finished jobs). The node''s state is the job''s state.';
COMMENT ON COLUMN flow.node.parents IS 'Job ids of the nodes this node depends on.';
COMMENT ON COLUMN flow.node.children IS 'Job ids of the nodes that depend on this node (the edges the release trigger follows).';
COMMENT ON COLUMN flow.node.waiting IS 'Number of parents whose job is not completed; the node is released from pending when it reaches 0.';
COMMENT ON COLUMN flow.node.trigger_rule IS 'When the node runs: NULL for all_success (every parent completed), or all_done, one_failed, none_failed (README "Trigger rules").';
COMMENT ON COLUMN flow.node.condition IS 'The node''s "if" as written: a JSON path predicate over its inputs, checked when its rule lets it run; false skips it.';
COMMENT ON COLUMN flow.node.failed_parents IS 'Number of parents cancelled or discarded (counted in waiting too: they are not completed).';
COMMENT ON COLUMN flow.node.skipped_parents IS 'Number of parents skipped (completed with metadata flow_skipped; not counted in waiting).';
COMMENT ON COLUMN flow.node.concurrency_key IS 'The node''s concurrency key (README "Concurrency keys"), evaluated when the node was inserted; NULL: no limit.';
COMMENT ON COLUMN flow.node.concurrency_limit IS 'At most this many nodes with the node''s concurrency key run at once (checked when this node is admitted).';
COMMENT ON COLUMN flow.node.mode IS 'NULL for a task; ''workflow'' or ''map'' for a node that runs as a child run when released instead of as a job; ''wait'' for a node completed by flow.signal.';
