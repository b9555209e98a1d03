-- Concurrency keys: the queue of nodes whose trigger rule lets them run but
-- whose key had no free slot. Such a node stays pending (waiting = 0) with a
-- row here until flow.concurrency_settle admits it, oldest (lowest job id)
-- first, when a node of its key finishes. No foreign key to flow.node: a row
-- goes when its node is admitted or finishes (cancelled), always before its
-- run can be deleted, and a cascade would cost every node deletion a lookup.
CREATE TABLE flow.concurrency_wait (
    job_id bigint PRIMARY KEY,
    key    text   NOT NULL
);
-- A key's queue in admission order.
CREATE INDEX concurrency_wait_key_idx ON flow.concurrency_wait (key, job_id);

COMMENT ON TABLE flow.concurrency_wait IS 'Pending nodes waiting for a slot of their concurrency key, admitted in job id order by flow.concurrency_settle.';
