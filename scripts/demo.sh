#!/usr/bin/env bash
# demo.sh runs htdag's code-ingestion workflow on this repository itself:
# migrate the engine, start a worker in the background, `worker ingest . --wait` (a
# progress bar, then what it found and what changed since the last demo; the
# first ingestion installs ingestion's own schema),
# then the psql queries of docs/INGEST.md on the result, and stop the worker.
# The worker is stopped on every way out (success, failure, Ctrl-C), so
# nothing is left running. Run it again after editing a file to see the
# change recorded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/postgres-lib.sh
. scripts/postgres-lib.sh

env=$(scripts/ensure-postgres.sh)
eval "$env"
PSQL=$(pg_tool psql) || die "psql not found"

go build -o bin/worker ./cmd/worker
bin/worker --log-level warn migrate >/dev/null

logfile=$(mktemp "${TMPDIR:-/tmp}/htdag-demo-worker.XXXXXX")
worker_pid=

stop_worker() {
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
        echo "stopping the worker (pid $worker_pid)" >&2
        kill -TERM "$worker_pid" 2>/dev/null || true
        # It drains in-flight jobs (at most --shutdown-timeout) and exits.
        wait "$worker_pid" 2>/dev/null || true
    fi
    worker_pid=
}
cleanup() {
    stop_worker
    rm -f "$logfile"
}
trap cleanup EXIT
# Make signals exit through the EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM

bin/worker --log-format console run >"$logfile" 2>&1 &
worker_pid=$!
echo "worker started (pid $worker_pid, log $logfile)"
echo

# No need to wait for the worker to be up: the run waits in the database
# until a worker takes its nodes.
echo "== bin/worker ingest . --codebase htdag --wait"
rc=0
bin/worker --log-level warn ingest . --codebase htdag --wait --timeout 5m || rc=$?
if [ "$rc" -ne 0 ]; then
    stop_worker
    echo >&2
    echo "the ingestion did not complete (exit $rc); worker log:" >&2
    tail -n 50 "$logfile" >&2
    exit "$rc"
fi

q() {
    echo
    echo "== $1"
    "$PSQL" -X -q -P pager=off -d "$DATABASE_URL" -c "$2"
}

q "largest files" "
SELECT path, language, lines, symbols
  FROM ingest.current_files
 WHERE codebase = 'htdag'
 ORDER BY lines DESC
 LIMIT 10;"

q "symbols per Go package" "
SELECT c.dir, c.package,
       count(*) FILTER (WHERE s.kind IN ('func', 'method')) AS funcs,
       count(*) FILTER (WHERE s.kind = 'type') AS types,
       count(*) AS symbols
  FROM ingest.current_files c
  JOIN ingest.symbol s ON s.version_id = c.version_id
 WHERE c.codebase = 'htdag' AND c.language = 'go'
 GROUP BY c.dir, c.package
 ORDER BY symbols DESC;"

runs=$("$PSQL" -X -q -A -t -d "$DATABASE_URL" -c "SELECT count(*) FROM ingest.run WHERE codebase_id = 'htdag' AND state = 'completed'")
if [ "$runs" -ge 2 ]; then
    q "what changed between the last two runs" "
SELECT path, change, lines_before, lines_after,
       left(array_to_string(symbols_added, ', '), 40) AS symbols_added,
       left(array_to_string(symbols_removed, ', '), 40) AS symbols_removed
  FROM ingest.changes('htdag',
         (SELECT id FROM ingest.run WHERE codebase_id = 'htdag' AND state = 'completed' ORDER BY id DESC OFFSET 1 LIMIT 1),
         (SELECT id FROM ingest.run WHERE codebase_id = 'htdag' AND state = 'completed' ORDER BY id DESC LIMIT 1));"
else
    echo
    echo "== what changed between two runs: edit a file and run 'make demo' again"
fi

stop_worker
