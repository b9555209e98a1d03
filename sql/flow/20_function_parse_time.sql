-- An RFC 3339 timestamp with its zone ("2026-01-02T15:04:05Z",
-- "2026-01-02 15:04:05.5+02:00") parsed from text, or NULL when the text is
-- not one. Other forms PostgreSQL accepts ("01/02/2030", "tomorrow", a time
-- without a zone) depend on the session's DateStyle and TimeZone, so the same
-- spec would mean different times through different connections. STRICT, so a
-- missing value never enters the exception block (a subtransaction).
CREATE OR REPLACE FUNCTION flow.parse_time(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v timestamptz;
BEGIN
    IF p_text !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$' THEN
        RETURN NULL;
    END IF;
    v := p_text::timestamptz;
    RETURN CASE WHEN isfinite(v) THEN v END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.parse_time(text) IS 'An RFC 3339 timestamp with a zone parsed from text, or NULL when the text is not one (spec "at").';
