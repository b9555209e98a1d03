-- Whether worker p_id holds its liveness lock in this database right now
-- (some backend holds advisory lock (1752458343, p_id)). pg_locks is read by
-- any role; it lists the locks of every database, hence the database filter.
CREATE OR REPLACE FUNCTION flow.worker_alive(p_id bigint) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.classid = 1752458343::oid AND l.objid = p_id::oid AND l.objsubid = 2
           AND l.granted AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()));
$$;

COMMENT ON FUNCTION flow.worker_alive(bigint) IS 'Whether worker p_id holds its liveness lock (advisory lock (1752458343, id)) right now.';
