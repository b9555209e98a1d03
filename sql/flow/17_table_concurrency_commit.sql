-- Concurrency keys: transactions whose started keyed roots are admitted when
-- they commit. Starting a run does not lock its keys' counts: that would
-- hold them until commit in start order, and two transactions starting the
-- same keys in opposite orders would deadlock. Each flow.insert_nodes call
-- that inserted keyed roots adds a row (an upsert into one row per
-- transaction would copy the growing array on every call: quadratic for a
-- map of many keyed workflows); each row queues the deferred trigger
-- flow_concurrency_admit_at_commit, whose first firing at commit takes all
-- of the transaction's rows and admits their roots, every key locked at once,
-- in key order (flow.concurrency_admit_at_commit); later firings find none.
-- Only the engine writes here: the roots admitted are the ones it started.
CREATE TABLE flow.concurrency_commit (
    xid   xid8     NOT NULL,
    roots bigint[] NOT NULL
);
CREATE INDEX concurrency_commit_xid_idx ON flow.concurrency_commit (xid);

COMMENT ON TABLE flow.concurrency_commit IS 'Keyed roots started by a transaction (a row per flow.insert_nodes call), to queue and admit at its commit (flow.concurrency_admit_at_commit); empty outside such transactions.';
