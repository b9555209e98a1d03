-- Concurrency keys: a node's key from its spec's "concurrency" "key" (README
-- "Concurrency keys"). A key not starting with "$" is the key itself; one
-- starting with "$" is a JSON path evaluated, when the node is inserted, over
-- {"input": the run's input (for a map's elements, the map node's run's),
-- "args": the node's args, "item": its element (a map's elements only)}; its first value must be a string or a number (taken
-- as its text) of 1 to 200 characters. Anything else is an error naming the
-- node (SQLSTATE 22023: flow.start fails and writes nothing; a map whose
-- element gives no key fails like a node that cannot start).
CREATE OR REPLACE FUNCTION flow.concurrency_key(p_expr text, p_doc jsonb, p_node text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb;
    k text;
BEGIN
    IF left(p_expr, 1) <> '$' THEN
        RETURN p_expr;
    END IF;
    v := jsonb_path_query_first(p_doc, p_expr::jsonpath);
    k := CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' WHEN 'number' THEN v::text END;
    IF k IS NULL OR length(k) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'node %: concurrency key % gives %, not a string or number of 1 to 200 characters',
                        to_json(p_node), to_json(p_expr), coalesce(left(v::text, 100), 'nothing')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'the path is evaluated over {"input": the run input, "args": the node''s args, "item": its map element}';
    END IF;
    RETURN k;
END;
$$;
COMMENT ON FUNCTION flow.concurrency_key(text, jsonb, text) IS 'Internal: a node''s concurrency key from its spec''s key: the key itself, or the string or number a JSON path ("$...") finds in {"input", "args", "item"}.';
