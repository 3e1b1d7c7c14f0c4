#!/usr/bin/env bash
# What the tests need beyond the Python packages, from Debian's packages, installed only when
# missing; quiet unless it fails; safe to run again. Installing needs root (or sudo).
#   chromium     the browser tests: Python playwright drives it (the tests never download a
#                browser build of their own); skipped when it cannot be had
#   postgresql   the store's tests on PostgreSQL: tests/pg_cluster.py starts a throwaway server
#                from its binaries (/usr/lib/postgresql/<version>/bin); those tests fail, never
#                skip, when it cannot be had
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

cannot() {
    echo "test-deps: ${missing[*]} missing and $1:" >&2
    [[ " ${missing[*]} " == *" chromium "* ]] && echo "  the browser tests will be skipped" >&2
    [[ " ${missing[*]} " == *" postgresql "* ]] && echo "  the postgres tests will FAIL" >&2
    exit 0
}
command -v apt-get >/dev/null 2>&1 || cannot "apt-get is not here"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || cannot "we are not root"
    SUDO=(sudo -n)
fi
echo "test-deps: installing Debian's ${missing[*]} for the tests" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "test-deps: could not install ${missing[*]}" >&2
    exit 1
fi
