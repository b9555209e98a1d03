-- ingest.begin_run(codebase, root): records a new run of a codebase and
-- returns its id. A run still in progress for the codebase is refused
-- (55006); one whose flow run has ended without indexing is marked failed
-- first. Call it in the transaction that starts the flow run and set
-- flow_run_id there too.
CREATE FUNCTION ingest.begin_run(p_codebase text, p_root text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_busy ingest.run;
    v_id   bigint;
BEGIN
    INSERT INTO ingest.codebase AS c (id, root) VALUES (p_codebase, p_root)
    ON CONFLICT (id) DO UPDATE SET root = excluded.root;
    -- Serialise begins per codebase.
    PERFORM 1 FROM ingest.codebase WHERE id = p_codebase FOR UPDATE;

    UPDATE ingest.run r
       SET state = 'failed', finished_at = now()
     WHERE r.codebase_id = p_codebase
       AND r.state = 'running'
       AND NOT EXISTS (SELECT 1 FROM flow.run f WHERE f.id = r.flow_run_id AND f.state IN ('pending', 'running'));

    SELECT * INTO v_busy FROM ingest.run WHERE codebase_id = p_codebase AND state = 'running';
    IF FOUND THEN
        RAISE EXCEPTION 'ingest: codebase % is being ingested by run % (flow run %)', p_codebase, v_busy.id, v_busy.flow_run_id
            USING ERRCODE = 'object_in_use',
                  HINT = 'wait for it (worker wait FLOW_RUN_ID), or cancel it (worker cancel FLOW_RUN_ID)';
    END IF;

    INSERT INTO ingest.run (codebase_id, root) VALUES (p_codebase, p_root) RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION ingest.begin_run(text, text) IS 'Records a new ingestion run of a codebase (creating the codebase) and returns its id; refuses (55006) while another is in progress.';
