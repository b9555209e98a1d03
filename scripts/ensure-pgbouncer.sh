#!/usr/bin/env bash
# ensure-pgbouncer.sh makes PgBouncer's program available for the tests and
# the fleet harness that put a PgBouncer of their own in front of a private
# cluster (internal/pgbouncer starts and stops it; this script never starts
# one). If pgbouncer is missing it installs Debian's package with apt-get (as
# root, or through passwordless sudo). It exits 0 when pgbouncer is there,
# and 1 with the reason when it cannot be installed: the tests that need it
# then skip, saying so, and `make fleet` stops.
set -euo pipefail

log() { echo "${0##*/}: $*" >&2; }

have() { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }

have && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    log "pgbouncer is not installed and there is no apt-get to install it; the PgBouncer tests will skip"
    exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        log "pgbouncer is not installed, and installing it needs root (apt-get install pgbouncer); the PgBouncer tests will skip"
        exit 1
    fi
fi

# Was Debian's own pgbouncer service running before? (Installing may start
# it; the tests do not use it, so it is stopped again if it was not.)
was_active=no
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet pgbouncer 2>/dev/null; then
    was_active=yes
fi

install() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends pgbouncer >&2
}
log "installing Debian's pgbouncer package"
if ! install; then
    log "apt-get install failed; updating the package lists and trying again"
    "${sudo[@]}" apt-get update -q >&2 || true
    if ! install; then
        log "could not install pgbouncer; the PgBouncer tests will skip"
        exit 1
    fi
fi

if [ "$was_active" = no ] && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet pgbouncer 2>/dev/null; then
    log "stopping and disabling the pgbouncer service the package started (port 6432; the tests start their own)"
    "${sudo[@]}" systemctl disable --now pgbouncer >&2 || true
fi
have || { log "pgbouncer still not found after installing"; exit 1; }
log "pgbouncer installed: $(pgbouncer --version 2>/dev/null | head -n 1 || /usr/sbin/pgbouncer --version | head -n 1)"
