#!/usr/bin/env bash
# What the browser tests need beyond the Python packages: Debian's Chromium, which Python
# playwright drives (the tests never download a browser build of their own). Installs it only
# when it is missing; quiet unless it fails; safe to run again. Installing needs root (or sudo).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
skip() {
    echo "test-deps: chromium is missing and $1; the browser tests will be skipped" >&2
    exit 0
}
command -v apt-get >/dev/null 2>&1 || skip "apt-get is not here"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || skip "we are not root"
    SUDO=(sudo -n)
fi
echo "test-deps: installing Debian's chromium for the browser tests" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq \
    --no-install-recommends chromium; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "test-deps: could not install chromium" >&2
    exit 1
fi
