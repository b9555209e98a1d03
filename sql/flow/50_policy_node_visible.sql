-- Who may read nodes directly (flow_reader has SELECT on flow.node): those
-- of runs it may read (50_policy_run_visible.sql; the subquery on flow.run is
-- itself under that policy). htdag's own functions and views run as the
-- table's owner, which it does not bind.
CREATE POLICY node_visible ON flow.node FOR SELECT
    USING (EXISTS (SELECT 1 FROM flow.run r WHERE r.id = run_id));
