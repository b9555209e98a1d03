-- Keyed roots started by a transaction are admitted when it commits
-- (flow.concurrency_admit_at_commit; 17_table_concurrency_commit.sql says why).
-- A constraint trigger has no OR REPLACE: a migration that changes it drops
-- it first.
CREATE CONSTRAINT TRIGGER flow_concurrency_admit_at_commit
    AFTER INSERT ON flow.concurrency_commit
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION flow.concurrency_admit_at_commit();
COMMENT ON TRIGGER flow_concurrency_admit_at_commit ON flow.concurrency_commit IS 'htdag: admits the keyed roots a transaction started, at its commit, keys locked in key order.';
