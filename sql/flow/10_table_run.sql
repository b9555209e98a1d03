-- One row per run: one execution of a DAG. A run is a top run (started by
-- flow.start) or a child run (started by a sub-workflow, map or expanded node
-- of another run, which waits for it); a tree of runs has one top run, which
-- holds the tree's limits.
--
-- State machine, kept by the release trigger in the transactions that change
-- node states: pending (no node has started) -> running -> completed (every
-- node completed) | failed (some node discarded or cancelled, nothing more can
-- run) | cancelled (flow.cancel, or its deadline: "timeout_ms", see
-- flow.arm_deadline). The CHECK constraints below are its rules.
--
-- Columns are listed in the order the migrations created them (new columns
-- go at the end, so a fresh install and an upgraded one agree). Row level
-- security is on: see 50_policy_run_visible.sql.
CREATE TABLE flow.run (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text        NOT NULL DEFAULT '',
    state          text        NOT NULL DEFAULT 'pending',
    input          jsonb,
    output         jsonb,
    node_count     integer     NOT NULL,
    unfinished     integer     NOT NULL,
    failed         integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    cancelled_at   timestamptz,
    key            text,
    parent_run_id  bigint REFERENCES flow.run (id) ON DELETE CASCADE,
    parent_job_id  bigint,
    root_run_id    bigint,
    depth          integer     NOT NULL DEFAULT 0,
    output_node    text,
    is_map         boolean     NOT NULL DEFAULT false,
    max_depth      integer,
    max_tree_nodes integer,
    owner          name        NOT NULL,
    input_from_parent boolean  NOT NULL DEFAULT false,
    timeout_ms     integer,
    deadline_at    timestamptz,
    deadline_job_id bigint,
    cancel_reason  text,
    deadline_queue text,
    CONSTRAINT run_state_valid CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT run_node_count_positive CHECK (node_count > 0),
    CONSTRAINT run_unfinished_in_range CHECK (unfinished BETWEEN 0 AND node_count),
    CONSTRAINT run_failed_in_range CHECK (failed BETWEEN 0 AND node_count - unfinished),
    CONSTRAINT run_finished_iff_no_unfinished CHECK ((state IN ('completed', 'failed', 'cancelled')) = (unfinished = 0)),
    CONSTRAINT run_finished_at_iff_finished CHECK ((state IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT run_started_at_iff_not_pending CHECK ((state = 'pending') = (started_at IS NULL)),
    CONSTRAINT run_completed_has_no_failure CHECK (state <> 'completed' OR failed = 0),
    CONSTRAINT run_failed_has_failure CHECK (state <> 'failed' OR failed > 0),
    CONSTRAINT run_cancelled_has_cancelled_at CHECK (state <> 'cancelled' OR cancelled_at IS NOT NULL),
    CONSTRAINT run_child_links_all_or_none CHECK (num_nulls(parent_run_id, parent_job_id, root_run_id) IN (0, 3)),
    CONSTRAINT run_depth_zero_iff_top CHECK ((depth = 0) = (parent_run_id IS NULL)),
    CONSTRAINT run_limits_only_on_top CHECK ((parent_run_id IS NULL) = (num_nulls(max_depth, max_tree_nodes) = 0)),
    CONSTRAINT run_key_only_on_top CHECK (key IS NULL OR parent_run_id IS NULL),
    CONSTRAINT run_input_from_parent_only_on_children CHECK (NOT input_from_parent OR (parent_run_id IS NOT NULL AND input IS NULL)),
    CONSTRAINT run_timeout_ms_positive CHECK (timeout_ms > 0),
    CONSTRAINT run_deadline_has_job_and_timeout CHECK ((deadline_at IS NULL) = (deadline_job_id IS NULL) AND (deadline_at IS NULL OR timeout_ms IS NOT NULL)),
    CONSTRAINT run_deadline_queue_iff_timeout CHECK ((deadline_queue IS NULL) = (timeout_ms IS NULL)),
    CONSTRAINT run_cancel_reason_only_when_cancelled CHECK (cancel_reason IS NULL OR cancelled_at IS NOT NULL)
) WITH (fillfactor = 50); -- room for HOT updates: counters change on every completion
ALTER TABLE flow.run ENABLE ROW LEVEL SECURITY;

COMMENT ON TABLE flow.run IS 'One row per run (one execution of a DAG). State is kept current by flow.on_river_job_update in the transactions that change node states.';
COMMENT ON COLUMN flow.run.unfinished IS 'Nodes whose job is not yet completed, cancelled or discarded; the run finishes when this reaches 0.';
COMMENT ON COLUMN flow.run.failed IS 'Nodes whose job ended cancelled or discarded.';
COMMENT ON COLUMN flow.run.cancelled_at IS 'When flow.cancel was called; such a run finishes cancelled once its running nodes have stopped.';
COMMENT ON COLUMN flow.run.output IS 'Set when the run finishes: an object of the completed sink nodes'' outputs, keyed by node id.';
COMMENT ON COLUMN flow.run.key IS 'Optional idempotency key of the start spec: at most one unfinished run has a given key.';
COMMENT ON COLUMN flow.run.parent_run_id IS 'For a child run: the run holding the node that started it (NULL for a top run).';
COMMENT ON COLUMN flow.run.parent_job_id IS 'For a child run: the job id of the node (sub-workflow, map or expanded node) that waits for it.';
COMMENT ON COLUMN flow.run.root_run_id IS 'For a child run: the top run of its tree.';
COMMENT ON COLUMN flow.run.depth IS 'Level in the tree: 0 for a top run, parent''s depth + 1 for a child run.';
COMMENT ON COLUMN flow.run.output_node IS 'The spec''s "output": the node whose output is the run''s output (NULL: the sink nodes'' outputs keyed by id).';
COMMENT ON COLUMN flow.run.is_map IS 'A map''s child run: one node per element, ids "0".."n-1"; its output is the array of their outputs in element order.';
COMMENT ON COLUMN flow.run.max_depth IS 'Top runs: deepest child run allowed (spec "max_depth", default 32).';
COMMENT ON COLUMN flow.run.max_tree_nodes IS 'Top runs: most nodes allowed in the whole tree (spec "max_tree_nodes", default 1000000).';
COMMENT ON COLUMN flow.run.owner IS 'The role that started the run (its top run''s, for a child run): who may see, cancel and retry it, whose kind grants and limits apply.';
COMMENT ON COLUMN flow.run.timeout_ms IS 'The spec''s "timeout_ms": the run''s time budget, counted from its start (and again from each flow.retry); NULL: none.';
COMMENT ON COLUMN flow.run.deadline_at IS 'When the run is cancelled if it has not finished: its start (or last retry) plus timeout_ms.';
COMMENT ON COLUMN flow.run.deadline_job_id IS 'The River job of kind flow.run_deadline, scheduled at deadline_at, that cancels the run (flow.cancel_at_deadline); deleted when the run finishes first.';
COMMENT ON COLUMN flow.run.deadline_queue IS 'The River queue of the run''s deadline jobs: its spec''s "queue", else ''default'' (kept for the deadline a retry schedules).';
COMMENT ON COLUMN flow.run.cancel_reason IS 'Why the run was cancelled: "run N was cancelled" (flow.cancel of run N, this one or one above it) or "run N passed its deadline (timeout_ms T) and was cancelled"; its cancelled nodes'' errors say the same.';
COMMENT ON COLUMN flow.run.input_from_parent IS 'A child run whose input is its node''s inputs, read through flow.run_input rather than copied at every level.';

-- At most one unfinished run per owner and idempotency key; a concurrent
-- start with the same key waits on this index for the first to commit.
CREATE UNIQUE INDEX run_key_unfinished_idx ON flow.run (owner, key) WHERE state IN ('pending', 'running');
-- Runs still in progress: the hot states, kept small by a partial index.
CREATE INDEX run_active_idx ON flow.run (id) WHERE state IN ('pending', 'running');
CREATE INDEX run_created_at_idx ON flow.run (created_at);
-- A node waits for at most one child run; this is also how a node finds it.
CREATE UNIQUE INDEX run_parent_job_idx ON flow.run (parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE INDEX run_parent_run_idx ON flow.run (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX run_root_run_idx ON flow.run (root_run_id) WHERE root_run_id IS NOT NULL;

