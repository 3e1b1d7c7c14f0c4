#!/usr/bin/env bash
# The whole suite with the machine's clock moved to other dates, all dates at once
# (`make test-any-day`; `make test-any-day DATES="2027-01-03T12:00:00Z ..."` picks others).
#
#   scripts/test-any-day.sh [DATE ...]     DATE in UTC, as `date -d` reads it, without spaces
#
# Each date's run is .venv's pytest under Debian's libfaketime, preloaded into every process the
# suite starts (uvicorn servers, the CLI, git, Chromium and Playwright's driver), so all of them
# share one clock: the real one plus a fixed offset, started at DATE and ticking on. The
# monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1): asyncio, uvloop, timeouts and
# thread waits run on it. scripts/faketime-fixes.c mends two wrappers of libfaketime 0.9.10 for
# that mode (Python's time.sleep failed; Chromium crawled). File times (stat) are not moved.
# SQLite's CURRENT_TIMESTAMP is. Nothing is installed under the moved clock: pip and apt run
# before it (a TLS certificate is not valid five years on).
#
# Each run has its own network namespace when we are root (CI is): the runs' servers on ephemeral
# ports cannot meet. (Chromium there sees no network but loopback, so navigator.onLine is false;
# the board does not read it.) The store's tests on PostgreSQL run at the first date only: the
# throwaway PostgreSQL server runs on the real clock (cluster/postgres.py takes libfaketime out of
# its environment) and the store never asks it the time, so at the other dates they would repeat
# what their SQLite twins already run there; skipping them keeps CI within its time. Each has
# its own pytest temporary directory and Hypothesis
# database under one work folder, and no pytest cache. Each run's closing line is printed with
# its date as it ends, the whole log of a failed run after all have ended, then each date's
# failed tests; any failed run fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

dates=("$@")
if [ ${#dates[@]} -eq 0 ]; then
    dates=(
        2027-06-13T15:00:00Z # a Sunday in summer: 11:00 in New York, every office closed
        2027-03-14T06:57:00Z # New York springs forward (02:00 EST -> 03:00 EDT) 3 minutes in
        2031-12-31T23:57:00Z # five years on, and the year turns (UTC) 3 minutes in
    )
fi
PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || { echo "test-any-day: no $PYTHON; run make test-any-day" >&2; exit 2; }

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
pids=()

install_quietly() { # install Debian packages when missing; quiet unless it fails
    local log
    log="$(mktemp)"
    echo "test-any-day: installing Debian's $* for the moved clock" >&2
    if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "$@"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "test-any-day: could not install $*" >&2
        exit 1
    fi
    rm -f "$log"
}

libfaketime_path() {
    local arch
    arch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -dumpmachine 2>/dev/null || true)"
    for candidate in "/usr/lib/$arch/faketime/libfaketimeMT.so.1" \
        /usr/lib/*/faketime/libfaketimeMT.so.1; do
        [ -f "$candidate" ] && { echo "$candidate"; return 0; }
    done
    return 1
}

missing=()
libfaketime_path >/dev/null || missing+=(libfaketime)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || {
        echo "test-any-day: ${missing[*]} missing and no apt-get here" >&2
        exit 1
    }
    install_quietly "${missing[@]}"
fi
LIBFAKETIME="$(libfaketime_path)"

work="$(mktemp -d "${TMPDIR:-/tmp}/test-any-day.XXXXXX")"
cleanup() {
    # an interrupted script stops its runs (each a pytest, by its PID) and removes their files
    for pid in "${pids[@]}"; do
        if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -shared -fPIC -O2 -o "$work/faketime-fixes.so" scripts/faketime-fixes.c -ldl

# A network namespace of its own for each run (as root): the runs' servers cannot meet on a port.
ISOLATE=()
if [ "$(id -u)" -eq 0 ] && unshare --net sh -c 'ip link set lo up' >/dev/null 2>&1; then
    ISOLATE=(unshare --net sh -c 'ip link set lo up && exec "$@"' isolate)
else
    echo "test-any-day: no network namespace here; the runs share the loopback ports" >&2
fi

labels=()
run_one() { # DATE LABEL [PYTEST-ARG ...]; becomes the run's pytest (exec), so its PID is the run's
    local date="$1" label="$2" target offset
    shift 2
    target="$(date -u -d "$date" +%s)"
    offset=$((target - $(date -u +%s)))
    # libfaketime reads "+N" or "-N": seconds from the real clock
    [ "$offset" -ge 0 ] && offset="+$offset"
    mkdir -p "$work/$label"
    exec >"$work/$label/log" 2>&1
    echo "test-any-day: $date (FAKETIME=$offset)"
    exec env LD_PRELOAD="$work/faketime-fixes.so $LIBFAKETIME${LD_PRELOAD:+ $LD_PRELOAD}" \
        FAKETIME="$offset" FAKETIME_DONT_FAKE_MONOTONIC=1 \
        HYPOTHESIS_STORAGE_DIRECTORY="$work/$label/hypothesis" \
        "${ISOLATE[@]}" "$PYTHON" -m pytest -q -p no:cacheprovider --tb=short \
        --basetemp="$work/$label/tmp" "$@"
}

start=$(date +%s)
for i in "${!dates[@]}"; do
    date="${dates[$i]}"
    date -u -d "$date" +%s >/dev/null 2>&1 || {
        echo "test-any-day: cannot read the date '$date'" >&2
        exit 2
    }
    label="run$i"
    labels+=("$label")
    echo "test-any-day: the suite at $(date -u -d "$date" '+%a %Y-%m-%d %H:%M:%S UTC') (in New York $(TZ=America/New_York date -d "$date" '+%a %H:%M %Z'))"
    selection=()
    [ "$i" -eq 0 ] || selection=(-m "not postgres")  # see above: PostgreSQL at the first date
    run_one "$date" "$label" "${selection[@]}" &
    pids+=($!)
done

summary_of() { # pytest's closing line: "3 failed, 900 passed, 2 skipped in 301.22s (0:05:01)"
    grep -E '^(=+ )?([0-9]+ [a-z]+(, )?)+ in [0-9.]+s' "$1" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//' || true
}
count_of() { # WORD LOG
    summary_of "$2" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0
}

failed=0
passed_total=0
failed_total=0
declare -A status
for i in "${!dates[@]}"; do
    if wait "${pids[$i]}"; then status[$i]=0; else status[$i]=$?; fi
    pids[i]=""
    echo "test-any-day: ${dates[$i]} ended after $(($(date +%s) - start))s: $(summary_of "$work/${labels[$i]}/log")"
done
elapsed=$(($(date +%s) - start))

echo
for i in "${!dates[@]}"; do
    log="$work/${labels[$i]}/log"
    line="$(summary_of "$log")"
    if [ "${status[$i]}" -ne 0 ]; then
        failed=1
        echo "================ test-any-day: ${dates[$i]} FAILED: ${line:-no summary (exit ${status[$i]})} ================"
        cat "$log"
        echo
    fi
    passed_total=$((passed_total + $(count_of passed "$log")))
    failed_total=$((failed_total + $(count_of failed "$log") + $(count_of error "$log")))
done

echo "test-any-day: $((elapsed / 60))m$((elapsed % 60))s for ${#dates[@]} dates at once"
for i in "${!dates[@]}"; do
    log="$work/${labels[$i]}/log"
    verdict=passed
    [ "${status[$i]}" -eq 0 ] || verdict=FAILED
    echo "test-any-day: ${dates[$i]}  $verdict  $(summary_of "$log")"
    grep -E '^(FAILED|ERROR) ' "$log" | sed "s/^/    ${dates[$i]}  /" || true
done
echo "any-day: $passed_total passed, $failed_total failed"
exit "$failed"
