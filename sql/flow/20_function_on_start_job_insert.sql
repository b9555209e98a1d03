-- The River door: a job of kind flow.start (inserted by any River client, or
-- by SQL) starts a run of its args. This stamps the inserting role into the
-- job's metadata (flow_owner; whatever the client wrote there is replaced),
-- so that the worker starts the run as that role's, under its kind grants and
-- limits, and refuses args larger than that role's max_spec_bytes at once
-- (22023): a 50 MB spec would otherwise be loaded by the worker that fetches
-- it. SECURITY DEFINER: the inserting role needs no right on the flow
-- schema.
CREATE OR REPLACE FUNCTION flow.on_start_job_insert() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner name := flow.caller();
    v_max   integer := (flow.limits_of(v_owner)).max_spec_bytes;
BEGIN
    IF pg_column_size(NEW.args) > v_max THEN
        RAISE EXCEPTION 'invalid workflow spec: a flow.start job''s args are % bytes, more than the limit of % (flow.limits max_spec_bytes)',
                        pg_column_size(NEW.args), v_max
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    NEW.metadata := coalesce(NEW.metadata, '{}'::jsonb) || jsonb_build_object('flow_owner', v_owner);
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION flow.on_start_job_insert() IS 'Stamps a flow.start job with the role that inserted it (flow_owner) and refuses oversized specs.';
