-- Concurrency keys: transactions whose started keyed roots are admitted when
-- they commit. Starting a run does not lock its keys' counts: that would
-- hold them until commit in start order, and two transactions starting the
-- same keys in opposite orders would deadlock. flow.insert_nodes adds the
-- roots to this transaction's row (one row per transaction: its first insert
-- queues the deferred trigger flow_concurrency_admit_at_commit once); at
-- commit, flow.concurrency_admit_at_commit admits them all, every key locked
-- at once, in key order, and deletes the row. Only the engine writes here:
-- the roots admitted are the ones it started.
CREATE TABLE flow.concurrency_commit (
    xid   xid8     PRIMARY KEY,
    roots bigint[] NOT NULL
);

COMMENT ON TABLE flow.concurrency_commit IS 'Per transaction that started keyed roots: the roots, to queue and admit at its commit (flow.concurrency_admit_at_commit); empty outside such transactions.';
