# shellcheck shell=bash
# Shared by ensure-postgres.sh and stop-postgres.sh (sourced, not run): where
# the private cluster lives and how to run PostgreSQL's programs.

HTDAG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { echo "${0##*/}: $*" >&2; }
die() { log "error: $*"; exit 1; }

# pg_bindir prints the newest /usr/lib/postgresql/<ver>/bin (Debian layout),
# else the directory of an initdb on PATH.
pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        echo "$d"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    else
        return 1
    fi
}

# pg_tool NAME prints the path of a client program (pg_isready, psql): the
# one on PATH, else the server's own copy.
pg_tool() {
    local bindir
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    elif bindir=$(pg_bindir) && [ -x "$bindir/$1" ]; then
        echo "$bindir/$1"
    else
        return 1
    fi
}

# as_pg runs a command as the server's owner: PostgreSQL refuses to run as
# root, so root runs it as the `postgres` OS user (from /, as the current
# directory may be closed to that user); anyone else runs it as themselves.
as_pg() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
    fi
}

# pg_root prints the private cluster's directory: .pgdata in the checkout,
# unless we are root and the postgres user cannot reach the checkout (e.g. it
# is under /root), in which case a directory under /tmp named after the
# checkout is used instead. HTDAG_PGDATA overrides both.
pg_root() {
    if [ -n "${HTDAG_PGDATA:-}" ]; then
        case $HTDAG_PGDATA in
            /*) echo "$HTDAG_PGDATA" ;;
            *) echo "$PWD/$HTDAG_PGDATA" ;;
        esac
    elif [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && ! as_pg test -x "$HTDAG_ROOT"; then
        echo "/tmp/htdag-pgdata-$(printf '%s' "$HTDAG_ROOT" | cksum | cut -d' ' -f1)"
    else
        echo "$HTDAG_ROOT/.pgdata"
    fi
}
