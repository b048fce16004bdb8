#!/usr/bin/env bash
# Collects diagnostics of a failed (or cancelled) devcluster kind run into REPORT_DIR.
#
#   scripts/collect-diagnostics.sh REPORT_DIR [CLUSTER_NAME]      (CLUSTER_NAME defaults to devcluster)
#
# Every collector runs on its own: one that fails (the cluster never came up, the API server is
# unreachable, a tool is missing) is recorded as a line in REPORT_DIR/collect-errors.txt and the
# next one still runs. kind's node logs come first: they are the only evidence when the cluster
# never became reachable (CI sets kind.retain_on_failure so a failed `kind create` keeps its nodes).
# Passes --config "$DEVCLUSTER_CONFIG" to devcluster when that is set. Prints a GitHub ::warning::
# when nothing at all could be collected. Always exits 0: diagnostics must not mask the real failure.
set -u

if [ "$#" -lt 1 ] || [ -z "$1" ]; then
  echo "::warning::usage: $0 REPORT_DIR [CLUSTER_NAME]; no diagnostics collected"
  exit 0
fi
dir="$1"
name="${2:-devcluster}"
errors="$dir/collect-errors.txt"
per_command_timeout="${COLLECT_TIMEOUT:-300}"

if ! mkdir -p "$dir"; then
  echo "::warning::cannot create $dir; no diagnostics collected"
  exit 0
fi

config_args=()
if [ -n "${DEVCLUSTER_CONFIG:-}" ]; then
  config_args=(--config "$DEVCLUSTER_CONFIG")
fi

tmp="$(mktemp -d)" || tmp=""
trap 'if [ -n "$tmp" ]; then rm -rf "$tmp"; fi' EXIT

# Runs one collector under a time limit (when coreutils' timeout is there); records its failure.
collect() { # command...
  local rc=0
  echo "+ $*" >&2
  if command -v timeout >/dev/null 2>&1; then
    timeout "$per_command_timeout" "$@" || rc=$?
  else
    "$@" || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    echo "$* -> exit $rc" >>"$errors"
    echo "  (failed with exit $rc; recorded in $errors)" >&2
  fi
  return 0
}

# Like collect, with the collector's stdout saved to OUTFILE (removed again when empty).
collect_to() { # outfile command...
  local out="$1"
  shift
  collect "$@" >"$out"
  if [ ! -s "$out" ]; then rm -f "$out"; fi
}

# 1. kind's own logs (node containers, kubelet, containerd, journal): first, needs no API server.
collect kind export logs --name "$name" "$dir/kind-logs"

# 2. devcluster's collection through the API server: pods' logs, events, descriptions, helm status.
collect devcluster logs --provider kind ${config_args[@]+"${config_args[@]}"} --collect "$dir"

# 3. Nodes and pods as kubectl sees them, through the cluster's kubeconfig: devcluster keeps it in
#    its state dir (not ~/.kube/config); kind can re-create it when devcluster never wrote it.
#    It holds the cluster's credentials, so it stays out of REPORT_DIR.
kubeconfig_args=()
kc=""
if [ -n "${KUBECONFIG:-}" ]; then
  kc="$KUBECONFIG"
elif kc="$(devcluster kubeconfig --provider kind ${config_args[@]+"${config_args[@]}"} 2>/dev/null)" && [ -n "$kc" ]; then
  :
elif [ -n "$tmp" ] && kind get kubeconfig --name "$name" >"$tmp/kubeconfig" 2>/dev/null && [ -s "$tmp/kubeconfig" ]; then
  kc="$tmp/kubeconfig"
else
  kc=""
fi
if [ -n "$kc" ]; then
  kubeconfig_args=(--kubeconfig "$kc")
fi
collect_to "$dir/kubectl-nodes-pods.txt" \
  kubectl ${kubeconfig_args[@]+"${kubeconfig_args[@]}"} --request-timeout=30s get nodes,pods -A -o wide

# 4. The host's containers (the kind nodes among them, running or exited).
collect_to "$dir/docker-ps.txt" docker ps -a

# Anything besides the error list counts as collected.
if [ -z "$(find "$dir" -type f ! -name collect-errors.txt -print -quit 2>/dev/null)" ]; then
  echo "::warning::no diagnostics could be collected into $dir (see the log above)"
fi
exit 0
