-- Guard: a late write of a node's lost attempt is skipped. When a worker is
-- declared dead its running nodes run again (flow.rescue_lost_nodes), and
-- attempt numbers stay unique; if the old worker was only cut off and later
-- reports its attempt (River's completer records an error, a cancel or a
-- discard, with the attempt number in the error it appends), that write would
-- land on the new attempt. The WHEN clause of the trigger finds exactly those
-- writes; the row is left as it is (RETURN NULL: no error, which would fail
-- the other rows of River's batch).
CREATE OR REPLACE FUNCTION flow.guard_stale_attempt() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE LOG 'htdag: skipped a late write of attempt % of node % of run % (the node is at attempt %): %',
              NEW.errors[cardinality(NEW.errors)] ->> 'attempt', OLD.metadata ->> 'flow_node', OLD.metadata ->> 'flow_run',
              OLD.attempt, NEW.errors[cardinality(NEW.errors)] ->> 'error';
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION flow.guard_stale_attempt() IS 'Skips a late write of a flow node''s lost attempt (its error names an attempt older than the running one).';
