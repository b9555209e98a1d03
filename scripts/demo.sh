#!/usr/bin/env bash
# demo.sh runs htdag's whole loop on a real database: migrate, start a worker
# in the background, start examples/diamond.json, wait for it, show its
# status, stop the worker. The worker is stopped on every way out (success,
# failure, Ctrl-C), so nothing is left running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

env=$(scripts/ensure-postgres.sh)
eval "$env"

go build -o bin/worker ./cmd/worker
bin/worker migrate

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

# No need to wait for the worker to be up: the run waits in the database
# until a worker takes its nodes.
run_id=$(bin/worker start examples/diamond.json)
echo "started run $run_id"

rc=0
bin/worker wait --timeout 60s "$run_id" || rc=$?
echo
bin/worker status "$run_id"

stop_worker
if [ "$rc" -ne 0 ]; then
    echo >&2
    echo "the run did not complete (wait exited $rc); worker log:" >&2
    tail -n 50 "$logfile" >&2
fi
exit "$rc"
