#!/usr/bin/env bash
# ensure-postgres.sh makes a PostgreSQL server available for htdag and prints
# the shell line that points DATABASE_URL at it:
#
#     eval "$(scripts/ensure-postgres.sh)"
#
# In order, it uses: $DATABASE_URL if that server answers; a server on
# 127.0.0.1:5432; a stopped Debian cluster, started; else a private cluster
# in .pgdata/ (trust auth, 127.0.0.1:55432 only), created or started as
# needed. A server counts only if we can log in, not merely if it answers.
# Only the export line goes to stdout; everything else goes to stderr.
#
# The private cluster gets the first free port from 55432 up when it is
# created (so several checkouts can each have one) and keeps it.
# HTDAG_PG_PRIVATE=1 skips straight to the private cluster; HTDAG_PGDATA and
# HTDAG_PGPORT (at creation) move it.
set -euo pipefail
# shellcheck source=scripts/postgres-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/postgres-lib.sh"

PG_ISREADY=$(pg_tool pg_isready) || die "PostgreSQL is not installed (no pg_isready); install it, e.g. apt-get install postgresql"
PSQL=$(pg_tool psql) || die "PostgreSQL is not installed (no psql)"

# can_login URL: pg_isready answers even when our login would be refused
# (a stock Debian cluster wants a password over TCP), so try a real query.
can_login() {
    PGCONNECT_TIMEOUT=5 "$PSQL" -X -q -A -t -d "$1" -c 'SELECT 1' </dev/null >/dev/null 2>&1
}

# use URL: print the export line and stop.
use() {
    local q=${1//\'/\'\\\'\'}
    log "using $(printf '%s' "${1%%\?*}" | sed -E 's#(//[^:/@]*):[^@]*@#\1:***@#')"
    printf "export DATABASE_URL='%s'\n" "$q"
    exit 0
}

local_url() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }

# wait_ready PORT: a server that was just started may take a moment.
wait_ready() {
    local i
    for i in $(seq 1 60); do
        "$PG_ISREADY" -q -h 127.0.0.1 -p "$1" -t 1 && return 0
        sleep 0.5
    done
    return 1
}

try_existing() {
    # 1. What the caller already points at.
    if [ -n "${DATABASE_URL:-}" ]; then
        if "$PG_ISREADY" -q -d "$DATABASE_URL" -t 3 && can_login "$DATABASE_URL"; then
            use "$DATABASE_URL"
        fi
        log "DATABASE_URL is set but that server does not accept us; looking for another"
    fi

    # 2. A server on the default port.
    local url
    url=$(local_url 5432)
    if "$PG_ISREADY" -q -h 127.0.0.1 -p 5432 -t 3; then
        can_login "$url" && use "$url"
        log "a server answers on 127.0.0.1:5432 but refuses user postgres without a password; using a private cluster"
        return
    fi

    # 3. A Debian cluster that is installed but stopped.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        local ver name port status rest
        while read -r ver name port status rest; do
            [ "$name" = main ] || continue
            if [ "$status" != online ]; then
                log "starting Debian cluster $ver/$name (port $port)"
                pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start </dev/null >&2 2>&1 ||
                    { log "could not start cluster $ver/$name"; continue; }
            fi
            url=$(local_url "$port")
            if wait_ready "$port" && can_login "$url"; then
                use "$url"
            fi
            log "cluster $ver/$name on port $port does not accept user postgres over TCP without a password"
        done < <(pg_lsclusters -h 2>/dev/null || true)
    fi
}

# port_in_use PORT: anything listening on 127.0.0.1:PORT, PostgreSQL or not.
port_in_use() {
    (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port prints HTDAG_PGPORT, or the first free port from 55432 up: not
# 5432, so it never collides with a system server that merely refused us.
free_port() {
    local p
    if [ -n "${HTDAG_PGPORT:-}" ]; then
        echo "$HTDAG_PGPORT"
        return
    fi
    for p in $(seq 55432 55531); do
        if ! port_in_use "$p"; then
            echo "$p"
            return
        fi
    done
    die "no free port in 55432-55531 for the private cluster"
}

# 4. The private cluster.
private_cluster() {
    local bindir root data sock logfile status port
    bindir=$(pg_bindir) || die "no PostgreSQL server binaries (initdb) found"
    root=$(pg_root)
    data=$root/data sock=$root/run logfile=$root/log

    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user to run the server"
    fi
    mkdir -p "$root"
    # Never commit the cluster, whatever the repository's .gitignore says.
    [ -f "$root/.gitignore" ] || echo '*' >"$root/.gitignore"
    touch "$logfile"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$root" "$logfile"
    fi

    if [ ! -s "$data/PG_VERSION" ]; then
        port=$(free_port)
        log "creating a private cluster in $data (port $port, log $logfile)"
        rm -rf "$data"
        mkdir -p "$data" "$sock"
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$data" "$sock"; fi
        chmod 700 "$data"
        as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-instructions </dev/null >&2
        # Local only, our own socket directory (the system one may not be
        # writable), and room for parallel test packages and worker pools.
        cat >>"$data/postgresql.conf" <<CONF

# htdag private cluster (scripts/ensure-postgres.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 300
CONF
    fi
    mkdir -p "$sock"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$sock"; fi
    # The port chosen at creation (the last setting wins, as in PostgreSQL).
    port=$(sed -n -E 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "$data/postgresql.conf" | tail -n 1)
    [ -n "$port" ] || die "no port setting in $data/postgresql.conf"

    status=0
    as_pg "$bindir/pg_ctl" -D "$data" status </dev/null >/dev/null 2>&1 || status=$?
    if [ "$status" -eq 0 ]; then
        log "private cluster in $data is running"
    else
        if port_in_use "$port"; then
            die "port $port of the private cluster in $data is taken by another process; stop it, or remove $root to start afresh"
        fi
        log "starting the private cluster in $data (port $port, log $logfile)"
        # -l sends the server's output to the log, so nothing holds our
        # stdout open (eval "$(...)" waits for it to close).
        as_pg "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start </dev/null >&2 ||
            { tail -n 20 "$logfile" >&2; die "the private cluster did not start"; }
    fi

    local url
    url=$(local_url "$port")
    wait_ready "$port" && can_login "$url" || die "the private cluster on port $port does not accept connections (see $logfile)"
    use "$url"
}

if [ "${HTDAG_PG_PRIVATE:-}" != 1 ]; then
    try_existing
fi
private_cluster
