#!/usr/bin/env bash
# Run on the first control plane by devcluster before joining nodes: a fresh bootstrap token (1 h)
# and, with --control-plane, freshly uploaded control-plane certificates with a new key (kubeadm
# deletes uploaded certs after ~2 h, tokens after 24 h, so nothing is reused across `up` runs).
# Prints KEY=VALUE lines on stdout for devcluster to read over SSH; writes nothing to disk.
set -euo pipefail
export KUBECONFIG=/etc/kubernetes/admin.conf

join="$(kubeadm token create --ttl 1h --print-join-command)"
# "kubeadm join <endpoint> --token <token> --discovery-token-ca-cert-hash <hash>"
read -r -a words <<< "$join"
endpoint=""; token=""; hash=""
for ((i = 0; i < ${#words[@]}; i++)); do
  case "${words[$i]}" in
    join) endpoint="${words[$((i + 1))]}" ;;
    --token) token="${words[$((i + 1))]}" ;;
    --discovery-token-ca-cert-hash) hash="${words[$((i + 1))]}" ;;
  esac
done
echo "ENDPOINT=${endpoint}"
echo "TOKEN=${token}"
echo "CA_CERT_HASH=${hash}"
if [ "${1:-}" = "--control-plane" ]; then
  key="$(kubeadm init phase upload-certs --upload-certs 2>/dev/null | tail -n 1)"
  echo "CERTIFICATE_KEY=${key}"
fi
