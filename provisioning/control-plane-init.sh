#!/usr/bin/env bash
# First control plane: kubeadm init (stable endpoint, certs uploaded, pod CIDR for Flannel, API on eth1),
# then Flannel bound to eth1. Each part is skipped when already done.
# Environment: NODE_IP, CONTROL_PLANE_ENDPOINT, POD_CIDR, K8S_PACKAGE_VERSION, FLANNEL_MANIFEST
# (KUBE_DIR and VAGRANT_HOME_DIR default to the VM's /etc/kubernetes and /home/vagrant; tests point
# them at scratch directories to run this script for real.)
set -euo pipefail

: "${NODE_IP:?}" "${CONTROL_PLANE_ENDPOINT:?}" "${POD_CIDR:?}" "${K8S_PACKAGE_VERSION:?}" "${FLANNEL_MANIFEST:?}"
KUBE_DIR="${KUBE_DIR:-/etc/kubernetes}"
VAGRANT_HOME_DIR="${VAGRANT_HOME_DIR:-/home/vagrant}"
export KUBECONFIG="${KUBE_DIR}/admin.conf"
k8s_version="v${K8S_PACKAGE_VERSION%%-*}"

if [ ! -f "$KUBECONFIG" ]; then
  umask 077
  cfg="$(mktemp)"
  trap 'rm -f "$cfg"' EXIT
  cat > "$cfg" <<CONF
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: ${NODE_IP}
  bindPort: 6443
nodeRegistration:
  kubeletExtraArgs:
    node-ip: ${NODE_IP}
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: ${k8s_version}
controlPlaneEndpoint: ${CONTROL_PLANE_ENDPOINT}:6443
networking:
  podSubnet: ${POD_CIDR}
apiServer:
  certSANs:
    - ${NODE_IP}
    - ${CONTROL_PLANE_ENDPOINT}
    - 127.0.0.1
CONF
  kubeadm init --config "$cfg" --upload-certs
fi

# kubectl for the vagrant user too (convenient inside `devcluster ssh cp1`).
install -d -o vagrant -g vagrant -m 0700 "${VAGRANT_HOME_DIR}/.kube"
install -o vagrant -g vagrant -m 0600 "$KUBECONFIG" "${VAGRANT_HOME_DIR}/.kube/config"

# Flannel, once, then bound to the host-only interface (eth0 is NAT: cross-node traffic would die).
if ! kubectl -n kube-flannel get daemonset kube-flannel-ds >/dev/null 2>&1; then
  if [ ! -s "$FLANNEL_MANIFEST" ]; then
    echo "Flannel manifest ${FLANNEL_MANIFEST} is missing (devcluster uploads it)" >&2
    exit 1
  fi
  kubectl apply -f "$FLANNEL_MANIFEST"
fi
args="$(kubectl -n kube-flannel get daemonset kube-flannel-ds -o jsonpath='{.spec.template.spec.containers[0].args}')"
case "$args" in
  *'--iface=eth1'*) ;;
  *)
    kubectl -n kube-flannel patch ds kube-flannel-ds --type=json \
      -p='[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--iface=eth1"}]'
    ;;
esac
