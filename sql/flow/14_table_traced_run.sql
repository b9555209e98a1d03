-- Runs whose span has been sent to a trace exporter (flowotel): a traced
-- worker that hears a run finish (LISTEN flow_run_finished) claims it here
-- with INSERT ... ON CONFLICT DO NOTHING, and only the one whose insert took
-- sends the run's span, so a fleet of traced workers sends each run's span
-- once. Rows go with their run.
CREATE TABLE flow.traced_run (
    run_id  bigint      PRIMARY KEY REFERENCES flow.run (id) ON DELETE CASCADE,
    sent_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE flow.traced_run IS 'Runs whose span a traced worker has sent (flowotel), claimed once across the fleet.';
