-- Nothing in the schema is callable by everyone: workers and `worker ingest`
-- connect as the schema's owner. Every migration that creates a function
-- ends with this file.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ingest FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ingest FROM PUBLIC;
