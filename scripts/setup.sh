#!/usr/bin/env bash
# Creates ./.venv (if missing) and installs the collector, every plugin under plugins/, and the
# test tools into it. Idempotent; used by both demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
plugins=()
for dir in plugins/*/; do
    [ -f "$dir/pyproject.toml" ] && plugins+=(-e "$dir")
done
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]" "${plugins[@]}"
