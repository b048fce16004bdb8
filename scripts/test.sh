#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Sets up the machine (scripts/test-setup.sh), then runs ruff and the whole pytest suite in the
# virtualenv it prepared. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(bash scripts/test-setup.sh | tail -n 1)"
PATH="$(dirname "$PY"):$PWD/.tools/bin:$PATH"
export PATH
"$PY" -m ruff check devcluster tests
"$PY" -m pytest "$@"
