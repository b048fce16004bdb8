"""The Vagrant provider: VirtualBox VMs, kubeadm or k3s (see provider.py)."""

from devcluster.providers.vagrant.driver import CONTROL_PLANE_ENDPOINT, POD_CIDR, vagrant_settings
from devcluster.providers.vagrant.host import (
    NETWORKS_CONF,
    HostSeams,
    available_memory_mib,
    hostonly_allowed,
    kvm_holders,
    virtualization_conflicts,
)
from devcluster.providers.vagrant.k3s import K3S_CTR_IMPORT, checksum_from_list
from devcluster.providers.vagrant.kubeadm import CTR_IMPORT, parse_join_material
from devcluster.providers.vagrant.provider import VagrantProvider, admin_kubeconfig_for_host

__all__ = [
    "CONTROL_PLANE_ENDPOINT", "CTR_IMPORT", "K3S_CTR_IMPORT", "NETWORKS_CONF", "POD_CIDR", "HostSeams",
    "VagrantProvider", "admin_kubeconfig_for_host", "available_memory_mib", "checksum_from_list", "hostonly_allowed",
    "kvm_holders", "parse_join_material", "vagrant_settings", "virtualization_conflicts",
]
