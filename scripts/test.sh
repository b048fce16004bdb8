#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# Sets up the machine, then runs ruff and the whole pytest suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-setup.sh
export PATH="$PWD/.tools/bin:$PATH"
python3 -m ruff check devcluster tests
python3 -m pytest "$@"
