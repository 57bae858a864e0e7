#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/setup.sh
scripts/system-deps.sh
status=0
.venv/bin/python -m pytest "$@" || status=$?
echo "scripts/test.sh: finished in $(( $(date +%s) - started )) s (pytest exit code $status)"
exit $status
