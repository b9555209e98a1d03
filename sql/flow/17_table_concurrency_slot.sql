-- Concurrency keys (README "Concurrency keys"): one row per key ever used,
-- counting the nodes with that key that hold a slot: released to River
-- (available, scheduled, running, retryable) and not yet finished. The row is
-- locked by every change of its key's count (flow.concurrency_settle), which
-- serialises admissions and releases of one key across the fleet. Rows stay
-- when their count falls to 0 (a key comes back; an idle row costs nothing).
CREATE TABLE flow.concurrency_slot (
    key     text    PRIMARY KEY,
    running integer NOT NULL DEFAULT 0,
    CONSTRAINT concurrency_slot_running_not_negative CHECK (running >= 0)
) WITH (fillfactor = 50); -- room for HOT updates: the count changes on every admission and finish

COMMENT ON TABLE flow.concurrency_slot IS 'Per concurrency key: how many of its nodes hold a slot (released and not finished). Kept by flow.concurrency_settle.';
COMMENT ON COLUMN flow.concurrency_slot.running IS 'Nodes with this key whose job is available, scheduled, running or retryable.';
