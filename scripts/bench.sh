#!/usr/bin/env bash
# Benchmarks for docs/performance.md (issue 11's figures): against the cluster in KUBECONFIG, or against
# the in-memory fake API when KUBECONFIG is unset. Run after scripts/test-setup.sh (it needs the venv and
# the helm binary in .tools/bin). Extra arguments go to benchmarks/bench.py (e.g. --runs 9).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PATH="$PWD/.tools/bin:$PATH" exec "$PY" benchmarks/bench.py "$@"
