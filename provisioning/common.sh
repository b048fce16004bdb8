#!/usr/bin/env bash
# Every node: kernel settings, the control-plane endpoint name and a serial console on ttyS0; for
# kubeadm also containerd (SystemdCgroup), pinned kubeadm/kubelet/kubectl and kubelet --node-ip on eth1
# (k3s brings its own containerd and kubelet: devcluster installs it over SSH afterwards). Safe to re-run.
# Environment: DISTRIBUTION (kubeadm, the default, or k3s), NODE_IP, CONTROL_PLANE_ENDPOINT,
#   CONTROL_PLANE_IP; kubeadm only: K8S_PACKAGE_VERSION, K8S_APT_REPO (k3s ignores them).
set -euo pipefail

DISTRIBUTION="${DISTRIBUTION:-kubeadm}"
: "${NODE_IP:?}" "${CONTROL_PLANE_ENDPOINT:?}" "${CONTROL_PLANE_IP:?}"
case "$DISTRIBUTION" in
  kubeadm) : "${K8S_PACKAGE_VERSION:?}" "${K8S_APT_REPO:?}" ;;
  k3s) ;;
  *)
    echo "DISTRIBUTION must be kubeadm or k3s, not '${DISTRIBUTION}'" >&2
    exit 1
    ;;
esac
export DEBIAN_FRONTEND=noninteractive

# The address Vagrant gave eth1 must be the one we were told: everything binds to it.
eth1_ip="$(ip -4 -o addr show dev eth1 | awk '{print $4}' | cut -d/ -f1 | head -n1)"
if [ "$eth1_ip" != "$NODE_IP" ]; then
  echo "eth1 has '${eth1_ip}', expected ${NODE_IP}" >&2
  exit 1
fi

# Swap off, now and after reboots.
swapoff -a
sed -ri '/\sswap\s/s/^([^#])/#\1/' /etc/fstab

# Kernel modules and sysctls for the pod network.
cat > /etc/modules-load.d/devcluster-k8s.conf <<'CONF'
overlay
br_netfilter
CONF
modprobe overlay
modprobe br_netfilter
cat > /etc/sysctl.d/99-devcluster-k8s.conf <<'CONF'
net.bridge.bridge-nf-call-iptables  = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward                 = 1
CONF
sysctl --system >/dev/null

# The control-plane endpoint is a name, so it can be moved to a load balancer later.
if ! grep -q " ${CONTROL_PLANE_ENDPOINT}\$" /etc/hosts; then
  echo "${CONTROL_PLANE_IP} ${CONTROL_PLANE_ENDPOINT}" >> /etc/hosts
fi

# Kernel console on ttyS0 as well, which VirtualBox writes to <serial_log_dir>/<vm>-serial.log: a boot
# that wedges before sshd is still readable. A drop-in appends to GRUB_CMDLINE_LINUX (not _DEFAULT: the
# box's GRUB_CMDLINE_LINUX_DEFAULT may hold a ';' after which GRUB drops the rest of the line; _LINUX
# comes first on it). update-grub runs only when the drop-in changed. It takes effect from the next
# boot: a VM's first boot (this one) leaves its serial log empty.
grub_dropin=/etc/default/grub.d/99-devcluster-serial-console.cfg
grub_dropin_text="$(
  cat <<'GRUB'
# devcluster (provisioning/common.sh): kernel console on the serial port too.
GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX:+${GRUB_CMDLINE_LINUX} }console=ttyS0,115200n8"
GRUB
)"
if [ "$(cat "$grub_dropin" 2>/dev/null || true)" != "$grub_dropin_text" ]; then
  mkdir -p "$(dirname "$grub_dropin")"
  printf '%s\n' "$grub_dropin_text" > "$grub_dropin"
  update-grub
fi

if [ "$DISTRIBUTION" = k3s ]; then
  exit 0
fi

# containerd with the systemd cgroup driver (kubeadm's default for the kubelet since 1.22).
if ! command -v containerd >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq containerd apt-transport-https ca-certificates curl gpg >/dev/null
fi
mkdir -p /etc/containerd
if [ ! -s /etc/containerd/config.toml ] || ! grep -q 'SystemdCgroup = true' /etc/containerd/config.toml; then
  containerd config default > /etc/containerd/config.toml
  sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
  systemctl restart containerd
fi
systemctl enable --now containerd

# kubeadm, kubelet, kubectl pinned from the v1.30 package repository.
keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
if [ ! -s "$keyring" ]; then
  mkdir -p /etc/apt/keyrings
  curl -fsSL "${K8S_APT_REPO}Release.key" | gpg --dearmor -o "$keyring"
fi
echo "deb [signed-by=${keyring}] ${K8S_APT_REPO} /" > /etc/apt/sources.list.d/kubernetes.list
installed="$(dpkg-query -W -f='${Version}' kubeadm 2>/dev/null || true)"
if [ "$installed" != "$K8S_PACKAGE_VERSION" ]; then
  apt-get update -qq
  apt-mark unhold kubelet kubeadm kubectl >/dev/null 2>&1 || true
  apt-get install -y -qq --allow-change-held-packages \
    "kubelet=${K8S_PACKAGE_VERSION}" "kubeadm=${K8S_PACKAGE_VERSION}" "kubectl=${K8S_PACKAGE_VERSION}" >/dev/null
  apt-mark hold kubelet kubeadm kubectl >/dev/null
fi

# The kubelet advertises the host-only address, not the NAT one on eth0.
desired="KUBELET_EXTRA_ARGS=--node-ip=${NODE_IP}"
if [ "$(cat /etc/default/kubelet 2>/dev/null || true)" != "$desired" ]; then
  echo "$desired" > /etc/default/kubelet
  systemctl daemon-reload
  if systemctl is-active --quiet kubelet; then systemctl restart kubelet; fi
fi
systemctl enable kubelet
