#!/usr/bin/env bash
# Writes the two hashed locks from pyproject.toml with pip-tools (pip-compile):
#   requirements-dev.lock  the dependencies, the `dev` extra, the build backend (hatchling and
#                          what it needs, so `pip install --no-build-isolation -e .` downloads
#                          nothing unpinned) and pip itself (through pip-tools); `make test`
#   requirements.lock      the dependencies and the build backend only; `make run`
# Both are resolved for this Python (CPython 3.11 on Linux) with every file's hash.
#
#   scripts/lock.sh              keep the current pins where pyproject.toml still allows them
#   scripts/lock.sh --upgrade    the newest releases pyproject.toml allows (`make upgrade`)
#   scripts/lock.sh -P NAME==V   move one package (any pip-compile option applies to the dev
#                                lock; the runtime lock always follows it)
#
# The runtime lock takes its versions from the dev lock (pip-compile keeps the pins already in
# its output file), so `make run` and `make test` never run different versions of one package.
set -euo pipefail
cd "$(dirname "$0")/.."

# (not PIP_COMPILE: pip reads every PIP_* variable as one of its options)
COMPILER="${LOCK_COMPILER:-.venv/bin/pip-compile}"

# Resolve and hash against the public index alone. This machine's pip configuration may add
# local indexes, wheel folders and constraints; a file found only there, or a local build of a
# release, would put a hash in the lock that a fresh machine cannot match.
export PIP_CONFIG_FILE=/dev/null
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_NO_INDEX PIP_CONSTRAINT
# The command the files' header names.
export CUSTOM_COMPILE_COMMAND="make upgrade (or scripts/lock.sh)"

common=(
    --quiet
    --generate-hashes
    --allow-unsafe
    --strip-extras
    --all-build-deps
    --no-emit-index-url
    --no-emit-find-links
)

"$COMPILER" "${common[@]}" --extra dev "$@" --output-file requirements-dev.lock pyproject.toml
cp requirements-dev.lock requirements.lock
"$COMPILER" "${common[@]}" --output-file requirements.lock pyproject.toml
echo "lock: wrote requirements-dev.lock and requirements.lock" >&2
