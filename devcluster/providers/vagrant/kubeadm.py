"""The kubeadm distribution: Vagrant's provisioning runs `kubeadm init` on the first control plane; every
other node joins with credentials minted fresh on it (uploaded certs expire after ~2 h, tokens after 24 h)
and handed over on stdin, never on a command line or on the host's disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devcluster.assets import asset_dir
from devcluster.clients.ssh import SshTarget
from devcluster.config import VagrantNode
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.providers.vagrant.driver import CONTROL_PLANE_ENDPOINT, POD_CIDR

if TYPE_CHECKING:
    from devcluster.providers.vagrant.provider import VagrantProvider

ADMIN_CONF = "/etc/kubernetes/admin.conf"


def parse_join_material(output: str) -> dict[str, str]:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    missing = [k for k in ("ENDPOINT", "TOKEN", "CA_CERT_HASH") if not values.get(k)]
    if missing:
        raise DevclusterError(f"mint-join.sh on the first control plane did not print {', '.join(missing)}")
    return values


class Kubeadm:
    name = "kubeadm"
    admin_conf = ADMIN_CONF

    def __init__(self, provider: VagrantProvider) -> None:
        self.p = provider

    def first_vm_summary(self) -> str:
        v = self.p.cfg.vagrant
        return (f"containerd, kubeadm {v.kubernetes_package_version}, kubelet --node-ip on eth1, kubeadm init "
                f"(endpoint {CONTROL_PLANE_ENDPOINT}:6443, --upload-certs, pod CIDR {POD_CIDR}), Flannel patched "
                "with --iface=eth1")

    def first_node_done(self, ctx: Context) -> bool:
        """kubeadm init ran (Vagrant provisions it with the VM)."""
        with self.p.session(self.p.first.name) as s:
            return s.run(["test", "-f", ADMIN_CONF], sudo=True, check=False).exit_status == 0

    def prepare_steps(self) -> list[Step]:
        return []

    def bootstrap_steps(self) -> list[Step]:
        return []  # the first VM's provisioning is the bootstrap

    def join_summary(self) -> str:
        return (f"a fresh token (and certificate key for control planes) minted on {self.p.first.name}, passed on "
                "stdin over SSH; a failed join is reset (`kubeadm reset`) and its VM made again")

    def join(self, ctx: Context, node: VagrantNode, targets: dict[str, SshTarget]) -> None:
        control_plane = node.role == "control-plane"
        flag = ["--control-plane"] if control_plane else []
        with self.p.session(self.p.first.name, targets) as cp:
            material = parse_join_material(cp.run_script(asset_dir("provisioning") / "mint-join.sh", flag, {}).stdout)
        stdin = "".join(f"{k}={v}\n" for k, v in material.items())
        ctx.console.print(f"  joining {node.name} as {node.role} (fresh token"
                          + (" and certificate key)" if control_plane else ")"))
        with self.p.session(node.name, targets) as s:
            s.run_script(asset_dir("provisioning") / "join.sh", flag, {"NODE_IP": node.ip}, stdin_data=stdin)
