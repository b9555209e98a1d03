-- What a pending node's trigger rule makes of its parents so far: 'run',
-- 'skip', 'cancel', or NULL (wait). waiting is how many of its parents are
-- not completed (failed ones included), failed how many were cancelled or
-- discarded, skipped how many were skipped (flow.node's counters).
--
--   rule          cancel if        skip if                      run if
--   all_success   a parent failed  a parent skipped             every parent completed
--   all_done      -                -                            every parent finished
--   one_failed    -                every parent finished, none  a parent failed
--                                  failed
--   none_failed   a parent failed  -                            every parent completed or skipped
--
-- A node the rule runs may still be skipped by its "if". Decisions only move
-- forward as parents finish, so the release trigger acts on one when it
-- first appears. No SET clause, unlike every other function here: that
-- would stop the planner from inlining it into the trigger's statements
-- (a call per node otherwise); it reads nothing and is not granted to anyone.
CREATE OR REPLACE FUNCTION flow.rule_decision(rule text, waiting integer, failed integer, skipped integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE coalesce(rule, 'all_success')
        WHEN 'all_success' THEN CASE WHEN failed > 0 THEN 'cancel' WHEN skipped > 0 THEN 'skip' WHEN waiting = 0 THEN 'run' END
        WHEN 'all_done'    THEN CASE WHEN waiting = failed THEN 'run' END
        WHEN 'one_failed'  THEN CASE WHEN failed > 0 THEN 'run' WHEN waiting = 0 THEN 'skip' END
        WHEN 'none_failed' THEN CASE WHEN failed > 0 THEN 'cancel' WHEN waiting = 0 THEN 'run' END
    END
$$;
COMMENT ON FUNCTION flow.rule_decision(text, integer, integer, integer) IS 'Internal: what a trigger rule makes of a node''s parents so far: run, skip, cancel, or NULL to wait.';
