-- Concurrency keys: what is wrong with a spec's or a node's "concurrency"
-- (README "Concurrency keys"), as the end of a sentence that flow.spec_check_at
-- starts; NULL when it is valid: an object {"key": K, "limit": N}, K a string
-- of 1 to 200 characters (a JSON path when it starts with "$", which must
-- parse), N an integer from 1 to 100000.
CREATE OR REPLACE FUNCTION flow.concurrency_problem(p_conc jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(p_conc) IS DISTINCT FROM 'object' OR NOT p_conc ? 'key' OR NOT p_conc ? 'limit'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_conc) k WHERE k NOT IN ('key', 'limit')) THEN
        RETURN 'must be an object {"key": "...", "limit": N} and nothing else';
    END IF;
    IF jsonb_typeof(p_conc -> 'key') <> 'string' OR length(p_conc ->> 'key') NOT BETWEEN 1 AND 200 THEN
        RETURN '"key" must be a string of 1 to 200 characters: the key, or a JSON path starting with "$" over {"input", "args", "item"}';
    END IF;
    IF jsonb_typeof(p_conc -> 'limit') <> 'number' OR (p_conc ->> 'limit') !~ '^[0-9]{1,6}$'
       OR (p_conc ->> 'limit')::integer NOT BETWEEN 1 AND 100000 THEN
        RETURN '"limit" must be an integer from 1 to 100000';
    END IF;
    IF left(p_conc ->> 'key', 1) = '$' THEN
        BEGIN
            PERFORM (p_conc ->> 'key')::jsonpath;
        EXCEPTION WHEN OTHERS THEN
            RETURN format('"key" %s starts with "$" but is not a JSON path: %s', to_json(p_conc ->> 'key'), SQLERRM);
        END;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION flow.concurrency_problem(jsonb) IS 'Internal: what is wrong with a "concurrency" object of a spec or node (NULL: nothing).';
