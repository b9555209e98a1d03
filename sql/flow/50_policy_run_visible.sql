-- Who may read runs directly (flow_reader has SELECT on flow.run): the runs
-- of roles it is a member of; admins every run. Row level security is on
-- (10_table_run.sql); htdag's own functions and views run as the table's
-- owner, which it does not bind, and filter by flow.member_of themselves.
CREATE POLICY run_visible ON flow.run FOR SELECT
    USING (flow.can_see(owner));
