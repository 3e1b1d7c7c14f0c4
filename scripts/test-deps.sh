#!/usr/bin/env bash
# What the suite needs beyond the Python packages, from Debian, installed only when missing;
# quiet unless it fails; safe to run again. Installing needs root (or sudo).
#
# - Chromium, which Python playwright drives for the browser tests (they never download a
#   browser build of their own). Without it those tests are skipped.
# - Kamailio with the modules examples/telephony/kamailio/kamailio.cfg loads (http_client is in
#   kamailio-utils-modules, jansson in kamailio-extra-modules; rtjson, tm, sl and the rest are
#   in kamailio) and SIPp (sip-tester), for the telephony tests (`pytest -m telephony`).
# - PostgreSQL, whose binaries (/usr/lib/postgresql/<version>/bin) cluster/postgres.py starts a
#   throwaway server from, for the store's tests on PostgreSQL (`pytest -m postgres`).
# The telephony and postgres tests are never skipped: a failed install fails this script;
# where nothing can be installed (no apt-get, not root) the suite runs and those tests fail,
# saying what is missing.
set -euo pipefail

missing_chromium=()
command -v chromium >/dev/null 2>&1 || missing_chromium=(chromium)
missing_required=()
command -v sipp >/dev/null 2>&1 || missing_required+=(sip-tester)
[ -x /usr/sbin/kamailio ] || command -v kamailio >/dev/null 2>&1 || missing_required+=(kamailio)
has_module() { compgen -G "/usr/lib/*/kamailio/modules/$1.so" >/dev/null; }
has_module http_client || missing_required+=(kamailio-utils-modules)
has_module jansson || missing_required+=(kamailio-extra-modules)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing_required+=(postgresql)

if [ ${#missing_chromium[@]} -eq 0 ] && [ ${#missing_required[@]} -eq 0 ]; then
    exit 0
fi
cannot() { # the reason nothing can be installed: the suite still runs, and says what is missing
    if [ ${#missing_required[@]} -gt 0 ]; then
        echo "test-deps: ${missing_required[*]} missing and $1; the telephony or postgres" \
            "tests will fail" >&2
    fi
    if [ ${#missing_chromium[@]} -gt 0 ]; then
        echo "test-deps: chromium is missing and $1; the browser tests will be skipped" >&2
    fi
    exit 0
}
command -v apt-get >/dev/null 2>&1 || cannot "apt-get is not here"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || cannot "we are not root"
    SUDO=(sudo -n)
fi
packages=("${missing_chromium[@]}" "${missing_required[@]}")
echo "test-deps: installing Debian's ${packages[*]} for the browser, telephony and postgres tests" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# the packages' services are not started (Kamailio would take port 5060): the tests start
# their own on free ports
apt_get=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
if ! { "${apt_get[@]}" update -qq && "${apt_get[@]}" install -y -qq \
    --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "test-deps: could not install ${packages[*]}" >&2
    exit 1
fi
