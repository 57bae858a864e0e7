#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/setup.sh
scripts/system-deps.sh
status=0
# Independent tests run in parallel, one worker per core (pytest-xdist; each worker starts its own
# PostgreSQL and S3 servers when its tests need them); `scripts/test.sh -n 0` runs them one by one.
.venv/bin/python -m pytest -n auto --dist worksteal --durations=15 "$@" || status=$?
echo "scripts/test.sh: finished in $(( $(date +%s) - started )) s (pytest exit code $status)"
exit $status
