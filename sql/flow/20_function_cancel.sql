-- flow.cancel(run_id): cancels every node of a run and of every run below it
-- that has not finished. Returns true, or false (with a NOTICE) for a run that
-- had already finished, which it leaves alone.
--
-- Running nodes are cancelled the way River's JobCancel does it: metadata
-- cancel_attempted_at is set and River's control channel tells their producer
-- to cancel the work context; River then records the attempt as cancelled
-- (not as an error to retry), whichever client works it. Pending, available,
-- scheduled and retryable nodes are cancelled at once; nodes waiting for a
-- child run are cancelled with the rest, and their child runs finish
-- 'cancelled' too. A run finishes 'cancelled' once nothing in it is running.
--
-- The tree is cancelled in passes until a pass changes nothing: a child run
-- that an expansion committed while this function waited for a lock, or a
-- node River fetched between two of its statements, is found by the next.
--
-- Cancel is a point in time: work that completed before it commits stays
-- completed (a whole child run, even), and after it no node of the tree
-- completes (htdag's completer refuses a node whose cancel was asked for).
--
-- Only an admin or a member of the run's owner may cancel it; to anyone
-- else the run does not exist. SECURITY DEFINER, with SET clauses so that no
-- setting of the caller's steers it (flow.in_trigger preset to 'on' once
-- left a cancelled run running forever).
--
-- The work is flow.cancel_tree's, with the reason "run N was cancelled"
-- (the runs' cancel_reason; "htdag: run N was cancelled" is the error of the
-- nodes it cancels).
CREATE OR REPLACE FUNCTION flow.cancel(p_run_id bigint) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET flow.in_trigger = 'off'
SET flow.cancelling = ''
SET flow.deleting_runs = 'off'
AS $$
DECLARE
    v_state  text;
    v_owner  name;
BEGIN
    SELECT state, owner INTO v_state, v_owner FROM flow.run WHERE id = p_run_id;
    IF NOT FOUND OR NOT flow.can_see(v_owner) THEN
        RAISE EXCEPTION 'htdag: run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_state IN ('completed', 'failed', 'cancelled') THEN
        RAISE NOTICE 'htdag: run % is already %; nothing to cancel', p_run_id, v_state;
        RETURN false;
    END IF;

    RETURN flow.cancel_tree(p_run_id, format('run %s was cancelled', p_run_id));
END;
$$;
COMMENT ON FUNCTION flow.cancel(bigint) IS 'Cancels every unfinished node of a run and of every run below it (running ones through River''s cancel signal); the runs end cancelled. False, with a NOTICE, for a run already finished.';
