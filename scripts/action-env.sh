#!/usr/bin/env bash
# For action.yml: the settings every later step (and the job's own steps) read, written to $GITHUB_ENV.
# INPUT_MODE / INPUT_PROVIDER / INPUT_CONFIG come from the action's inputs. The state dir is in
# $RUNNER_TEMP so `mode: down` (a later call) finds the cluster `mode: up` made.
set -euo pipefail

case "$INPUT_MODE" in
  up | down) ;;
  *) echo "::error::devcluster action: mode must be up or down, not '$INPUT_MODE'"; exit 2 ;;
esac
if [ -n "$INPUT_CONFIG" ] && [ ! -f "$INPUT_CONFIG" ]; then
  echo "::error::devcluster action: config $INPUT_CONFIG does not exist"
  exit 2
fi
reports="$RUNNER_TEMP/devcluster-reports"
mkdir -p "$reports"
name="devcluster"
if [ -n "$INPUT_CONFIG" ]; then
  name="$(python3 -c 'import sys, yaml; print((yaml.safe_load(open(sys.argv[1])) or {}).get("name") or "devcluster")' \
    "$INPUT_CONFIG" 2>/dev/null || echo devcluster)"
fi
{
  echo "DEVCLUSTER_PROVIDER=$INPUT_PROVIDER"
  echo "DEVCLUSTER_CONFIG=$INPUT_CONFIG"
  echo "DEVCLUSTER_NAME=$name"
  echo "DEVCLUSTER_REPORTS=$reports"
  echo "DEVCLUSTER_STATE_DIR=$RUNNER_TEMP/devcluster-state"
} >> "$GITHUB_ENV"
echo "$HOME/.local/bin" >> "$GITHUB_PATH"
echo "reports=$reports" >> "$GITHUB_OUTPUT"
