#!/usr/bin/env bash
# What the browser tests (make test-browser) need, installed where missing:
#   - Chromium, from Debian's packages (apt-get, as root); the tests drive it
#     with chromedp, and skip, saying so, when it is not there;
#   - Mermaid's single-file build, from npm (npm pack; nothing is installed
#     globally), for the check that `worker status --format mermaid` renders.
# It prints the environment the tests read, to eval:
#   HTDAG_CHROMIUM=/usr/bin/chromium HTDAG_MERMAID_JS=.../mermaid.min.js
# Each part that cannot be had is reported on stderr and left out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mermaid_version=11.17.2
cache=.cache/browser

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "browser-deps: installing chromium with apt-get" >&2
        if apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; then
            chromium=$(command -v chromium || true)
        fi
    fi
    [ -n "$chromium" ] || echo "browser-deps: no Chromium (install Debian's chromium package); the browser tests will skip" >&2
fi

mermaid="$cache/mermaid-$mermaid_version.min.js"
if [ ! -s "$mermaid" ]; then
    if command -v npm >/dev/null 2>&1; then
        tmp=$(mktemp -d)
        if (cd "$tmp" && npm pack --silent "mermaid@$mermaid_version" >/dev/null 2>&1 &&
            tar xzf "mermaid-$mermaid_version.tgz" package/dist/mermaid.min.js package/LICENSE); then
            mkdir -p "$cache"
            mv "$tmp/package/dist/mermaid.min.js" "$mermaid"
            mv "$tmp/package/LICENSE" "$cache/mermaid-$mermaid_version.LICENSE"
        fi
        rm -rf "$tmp"
    fi
    [ -s "$mermaid" ] || echo "browser-deps: could not fetch mermaid@$mermaid_version with npm; its check will skip" >&2
fi

[ -n "$chromium" ] && echo "export HTDAG_CHROMIUM=$chromium"
[ -s "$mermaid" ] && echo "export HTDAG_MERMAID_JS=$PWD/$mermaid"
exit 0
