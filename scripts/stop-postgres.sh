#!/usr/bin/env bash
# stop-postgres.sh stops the private cluster that ensure-postgres.sh started
# (never a system server). Its data stays; remove .pgdata/ to start afresh.
set -euo pipefail
# shellcheck source=scripts/postgres-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/postgres-lib.sh"

data=$(pg_root)/data
if [ ! -s "$data/PG_VERSION" ]; then
    log "no private cluster in $data"
    exit 0
fi
bindir=$(pg_bindir) || die "no PostgreSQL server binaries found"
if ! as_pg "$bindir/pg_ctl" -D "$data" status </dev/null >/dev/null 2>&1; then
    log "private cluster in $data is not running"
    exit 0
fi
as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop </dev/null >&2
log "stopped the private cluster in $data"
