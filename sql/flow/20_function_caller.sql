-- The role a call to htdag acts as: the role set with SET ROLE, else the
-- session's login role. Inside htdag's SECURITY DEFINER functions
-- current_user is their owner; the session's role setting and session_user
-- are what the caller was, and neither can be set to a role the login is not
-- a member of.
CREATE OR REPLACE FUNCTION flow.caller() RETURNS name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN current_setting('role') = 'none' THEN session_user ELSE current_setting('role')::name END;
$$;

COMMENT ON FUNCTION flow.caller() IS 'The role a call acts as: SET ROLE''s role, else the login role (session_user).';
