#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then run the static checks and the whole test
# suite. The checks (scripts/check.sh: ruff, mypy) and the tests run whatever the other found, so one
# run reports everything; it fails if either failed.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/setup.sh
scripts/system-deps.sh
checks=0
scripts/check.sh || checks=$?
status=0
tests_started=$(date +%s)
# Independent tests run in parallel, one worker per core (pytest-xdist; each worker starts its own
# PostgreSQL and S3 servers when its tests need them); `scripts/test.sh -n 0` runs them one by one.
.venv/bin/python -m pytest -n auto --dist worksteal --durations=15 "$@" || status=$?
finished=$(date +%s)
echo "scripts/test.sh: finished in $(( finished - started )) s (checks exit code $checks;" \
     "pytest took $(( finished - tests_started )) s, exit code $status)"
exit $(( status != 0 ? status : checks ))
