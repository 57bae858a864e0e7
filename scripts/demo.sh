#!/usr/bin/env bash
# One command on a fresh machine: set everything up, then collect from the bundled vendor
# emulators into ./collector-demo (or the directory given) and print the summary.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup.sh"
exec "$here/.venv/bin/collector" demo "$@"
