#!/usr/bin/env bash
# What a /metrics scrape costs the database when it holds 1,000,000 finished
# nodes (README, "Operations"): fills a scratch database with 100 finished
# runs of 10,000 nodes each, plus a little work in flight, then prints
# EXPLAIN (ANALYZE, BUFFERS) of each query the scrape runs (flowhttp's
# metrics_sql.go). Uses $DATABASE_URL's server; drops the database after.
# Not a test: run it by hand on a quiet machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
env=$(scripts/ensure-postgres.sh) && eval "$env"
db=htdag_scrape_cost_$$
base=${DATABASE_URL%/*}
psql "$DATABASE_URL" -qc "CREATE DATABASE $db"
[ -n "${KEEP:-}" ] || trap 'psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
url="$base/$db"
go run ./cmd/worker --database-url "$url" --log-level warn migrate >/dev/null
psql "$url" -q <<'SQL'
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DO $$
DECLARE
    spec jsonb := jsonb_build_object('name', 'wide', 'nodes',
        (SELECT jsonb_agg(jsonb_build_object('id', 'n' || i, 'kind', 'noop')) FROM generate_series(1, 10000) i));
    r bigint;
BEGIN
    FOR k IN 1..100 LOOP
        r := flow.start(spec);
        -- Finished between 3 hours and 2 h 10 min ago (before the windows).
        UPDATE river_job SET state = 'completed', attempt = 1, attempted_by = ARRAY['htdag_other_1'],
               attempted_at = now() - interval '3 hours' + k * interval '30 seconds',
               finalized_at = now() - interval '3 hours' + k * interval '30 seconds' + interval '5 ms'
         WHERE id IN (SELECT job_id FROM flow.node WHERE run_id = r);
    END LOOP;
    -- Work in flight: 10 runs of 100 nodes, their roots available.
    FOR k IN 1..10 LOOP
        PERFORM flow.start('{"name": "live", "nodes": [{"id": "a", "kind": "noop"}, {"id": "b", "kind": "noop", "deps": ["a"]}]}');
    END LOOP;
END $$;
VACUUM ANALYZE;
SQL
psql "$url" -Atc "SELECT 'finished nodes: ' || count(*) FROM river_job WHERE state = 'completed'"
# One line per query: its execution time and the buffers its plan touched.
explain() {
    local plan
    plan=$(psql "$url" -Atc "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2")
    printf '%-52s %s; %s\n' "$1" "$(grep -m1 -o 'Execution Time: .*' <<<"$plan")" "$(grep -m1 -o 'shared hit=[0-9]*\( read=[0-9]*\)\?' <<<"$plan")"
}
explain "runs by state" "SELECT state, count(*) FROM flow.run WHERE state IN ('pending', 'running') GROUP BY state"
explain "oldest unfinished run" "SELECT coalesce((SELECT extract(epoch FROM now() - created_at)::float8 FROM flow.run WHERE state IN ('pending', 'running') ORDER BY id LIMIT 1), 0)"
explain "runs created" "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM flow.run_id_seq"
explain "blocked nodes" "SELECT count(*) FROM (SELECT 1 FROM public.river_job WHERE state = 'pending' AND metadata ? 'flow_run' LIMIT 100000) s"
explain "available jobs per queue" "SELECT queue, count(*) FROM (SELECT queue FROM public.river_job WHERE state = 'available' LIMIT 100000) s GROUP BY queue"
explain "workers" "SELECT CASE WHEN flow.worker_alive(id) THEN 'alive' ELSE 'lost' END, count(*) FROM flow.worker WHERE stopped_at IS NULL AND dead_at IS NULL GROUP BY 1"
since="now() - interval '15 seconds'"
explain "release latency (15 s window)" "SELECT j.finalized_at, j.id, extract(epoch FROM j.attempted_at - (SELECT max(p.finalized_at) FROM public.river_job p WHERE p.id = ANY (n.parents)))::float8 FROM (SELECT id, finalized_at, attempted_at, attempted_by, attempt FROM public.river_job WHERE state = 'completed' AND finalized_at >= $since AND (finalized_at, id) > ($since, 0) ORDER BY finalized_at, id LIMIT 20000) j JOIN flow.node n ON n.job_id = j.id WHERE j.attempt = 1 AND j.attempted_by[array_upper(j.attempted_by, 1)] = 'htdag_me' AND cardinality(n.parents) > 0"
explain "release latency window end" "SELECT s.finalized_at, s.id FROM (SELECT finalized_at, id FROM public.river_job WHERE state = 'completed' AND finalized_at >= $since AND (finalized_at, id) > ($since, 0) ORDER BY finalized_at, id LIMIT 20000) s ORDER BY s.finalized_at DESC, s.id DESC LIMIT 1"
explain "flow.node_stats('1 hour') (no node in the window)" "SELECT * FROM flow.node_stats('1 hour')"
explain "flow.node_stats('4 hours') (all 1,000,000 nodes)" "SELECT * FROM flow.node_stats('4 hours')"
