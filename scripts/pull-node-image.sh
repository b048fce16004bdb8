#!/usr/bin/env bash
# Pulls the pinned kind node image of the devcluster config before `devcluster up`, with retries,
# so a slow or flaky registry on a cold CI runner fails here, clearly, and not inside `kind create`.
#
#   DEVCLUSTER_CONFIG=.github/devcluster-ci.yaml scripts/pull-node-image.sh
#
# The image is kind.node_image of `devcluster config [--config "$DEVCLUSTER_CONFIG"]` (a digest-pinned
# kindest/node). Up to 4 tries of `docker pull`, waiting 10, 30 and 60 s in between.
# NODE_IMAGE, when set, is pulled instead (the GitHub Action resolves it for its kubernetes-version input).
# Environment: DEVCLUSTER (the devcluster command), PYTHON (a python3 with PyYAML, default python3:
# devcluster brings PyYAML), PULL_RETRY_SLEEP=0 to retry without waiting (tests).
set -euo pipefail

devcluster="${DEVCLUSTER:-devcluster}"
python="${PYTHON:-python3}"
delays=(10 30 60)
tries=$((${#delays[@]} + 1))

config_args=()
if [ -n "${DEVCLUSTER_CONFIG:-}" ]; then
  config_args=(--config "$DEVCLUSTER_CONFIG")
fi

if [ -n "${NODE_IMAGE:-}" ]; then
  config_yaml="kind: {node_image: \"$NODE_IMAGE\"}"
elif ! config_yaml="$("$devcluster" config ${config_args[@]+"${config_args[@]}"})"; then
  echo "::error::pull-node-image: \`$devcluster config ${config_args[*]:-}\` failed; cannot tell which node image to pull"
  exit 1
fi
if ! image="$(printf '%s\n' "$config_yaml" | "$python" -c '
import sys
import yaml
cfg = yaml.safe_load(sys.stdin) or {}
print((cfg.get("kind") or {}).get("node_image") or "")
')"; then
  echo "::error::pull-node-image: could not read kind.node_image from the devcluster config (needs $python with PyYAML)"
  exit 1
fi
if [ -z "$image" ]; then
  echo "::error::pull-node-image: the devcluster config sets no kind.node_image"
  exit 1
fi
case "$image" in
  *@sha256:*) ;;
  *) echo "::warning::kind node image $image is not pinned by digest" ;;
esac

for ((try = 1; try <= tries; try++)); do
  echo "pulling $image (try $try of $tries)"
  if docker pull "$image"; then
    echo "pulled $image"
    exit 0
  fi
  if [ "$try" -lt "$tries" ]; then
    wait_s="${delays[$((try - 1))]}"
    if [ "${PULL_RETRY_SLEEP:-1}" = "0" ]; then wait_s=0; fi
    echo "docker pull failed; retrying in ${wait_s}s" >&2
    sleep "$wait_s"
  fi
done
echo "::error::docker pull $image failed $tries times; giving up (registry unreachable or rate-limited?)"
exit 1
