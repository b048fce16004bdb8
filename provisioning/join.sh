#!/usr/bin/env bash
# Join this node to the cluster, as a worker or (with --control-plane) a control plane.
# Reads ENDPOINT, TOKEN, CA_CERT_HASH and, for control planes, CERTIFICATE_KEY as KEY=VALUE lines
# on stdin: the credentials never appear on a command line and only sit, 0600, in a temporary
# file kubeadm reads. Exits 0 at once when the node has already joined.
# Environment: NODE_IP
set -euo pipefail

: "${NODE_IP:?}"
role="worker"
if [ "${1:-}" = "--control-plane" ]; then role="control-plane"; fi

# KUBE_DIR: the VM's /etc/kubernetes; tests point it at a scratch directory to run this script for real.
if [ -f "${KUBE_DIR:-/etc/kubernetes}/kubelet.conf" ]; then
  echo "already joined"
  exit 0
fi

ENDPOINT=""; TOKEN=""; CA_CERT_HASH=""; CERTIFICATE_KEY=""
# Whole lines, split at the first '=' by hand: `IFS='=' read key value` drops a single trailing '=' of a value.
while IFS= read -r line || [ -n "$line" ]; do
  key="${line%%=*}"
  value="${line#*=}"
  case "$key" in
    ENDPOINT) ENDPOINT="$value" ;;
    TOKEN) TOKEN="$value" ;;
    CA_CERT_HASH) CA_CERT_HASH="$value" ;;
    CERTIFICATE_KEY) CERTIFICATE_KEY="$value" ;;
    "") ;;
    *) echo "join.sh: ignoring unknown key ${key}" >&2 ;;
  esac
done
if [ -z "$ENDPOINT" ] || [ -z "$TOKEN" ] || [ -z "$CA_CERT_HASH" ]; then
  echo "join.sh: ENDPOINT, TOKEN and CA_CERT_HASH are required on stdin" >&2
  exit 2
fi
if [ "$role" = "control-plane" ] && [ -z "$CERTIFICATE_KEY" ]; then
  echo "join.sh: CERTIFICATE_KEY is required to join a control plane" >&2
  exit 2
fi

umask 077
cfg="$(mktemp)"
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<CONF
apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: ${ENDPOINT}
    token: ${TOKEN}
    caCertHashes:
      - ${CA_CERT_HASH}
nodeRegistration:
  kubeletExtraArgs:
    node-ip: ${NODE_IP}
CONF
if [ "$role" = "control-plane" ]; then
  cat >> "$cfg" <<CONF
controlPlane:
  localAPIEndpoint:
    advertiseAddress: ${NODE_IP}
    bindPort: 6443
  certificateKey: ${CERTIFICATE_KEY}
CONF
fi
# Never half-joined: a failed join is undone here (kubeadm reset also removes a control plane's etcd
# member), so devcluster can retry on a clean node.
if ! kubeadm join --config "$cfg"; then
  echo "join.sh: kubeadm join failed; resetting this node" >&2
  kubeadm reset --force >&2 || true
  exit 1
fi
