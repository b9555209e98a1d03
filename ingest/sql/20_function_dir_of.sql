-- ingest.dir_of(path): the directory part of a relative path, '.' at the root.
CREATE FUNCTION ingest.dir_of(p_path text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN strpos(p_path, '/') = 0 THEN '.' ELSE regexp_replace(p_path, '/[^/]*$', '') END $$;
COMMENT ON FUNCTION ingest.dir_of(text) IS 'The directory of a relative path, ''.'' for a file at the root.';
