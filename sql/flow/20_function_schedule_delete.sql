-- flow.schedule_delete(name, owner): removes a schedule and its tick
-- history; runs it started go on (and are kept by retention as any run).
-- Returns true. Who may: as flow.schedule_pause; an unknown schedule is
-- no_data_found.
CREATE OR REPLACE FUNCTION flow.schedule_delete(name text, owner name DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_s flow.schedule := flow.schedule_of(schedule_delete.name, schedule_delete.owner);
BEGIN
    DELETE FROM flow.schedule s WHERE s.id = v_s.id;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION flow.schedule_delete(text, name) IS 'Removes a schedule and its tick history (its runs go on).';
