#!/usr/bin/env bash
# The static checks, as scripts/test.sh runs them before the tests (in the .venv scripts/setup.sh
# makes): ruff over every Python file of the repository, then mypy --strict (configured in
# pyproject.toml) once over its `files` and once per tree of tests that pytest imports on its own
# (the repository's conftest.py, each plugin's package with its tests), because those trees repeat
# module names (conftest, test_collection, ...). Both run whatever the other found; each says how
# long it took. Exit code 1 if either found a problem.
set -uo pipefail
cd "$(dirname "$0")/.."

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $(( t / 1000 )); }

failed=0
check() {  # check NAME COMMAND...: run it, then say whether it passed and how long it took
    local name=$1 started code=0
    shift
    started=$(now_ms)
    "$@" || code=$?
    local took=$(( $(now_ms) - started ))
    printf 'scripts/check.sh: %s %s in %d.%d s\n' "$name" "$([ $code -eq 0 ] && echo passed || echo FAILED)" \
        $(( took / 1000 )) $(( took % 1000 / 100 ))
    [ $code -eq 0 ] || failed=1
}

run_mypy() {
    local code=0 plugin
    .venv/bin/python -m mypy || code=1
    .venv/bin/python -m mypy conftest.py || code=1
    # The newcomer's Heron plugin (a distribution of its own, like the tutorial's): its package.
    .venv/bin/python -m mypy --config-file /dev/null --strict --follow-imports=silent tests/newcomer/collector-heron/collector_heron || code=1
    for plugin in plugins/*/; do
        [ -d "${plugin}tests" ] || continue
        .venv/bin/python -m mypy "$plugin"collector_*/*.py "${plugin}tests" || code=1
    done
    return $code
}

check ruff .venv/bin/ruff check collector plugins tests bench docs scripts
check mypy run_mypy
exit $failed
