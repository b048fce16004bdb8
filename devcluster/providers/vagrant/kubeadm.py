"""The kubeadm distribution: Vagrant's provisioning runs `kubeadm init` on the first control plane; every
other node joins with credentials minted fresh on it (uploaded certs expire after ~2 h, tokens after 24 h)
and handed over on stdin, never on a command line or on the host's disk.
"""

from __future__ import annotations

from devcluster.assets import asset_dir
from devcluster.clients.registry import CERTS_DIR
from devcluster.config import VagrantNode
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.providers.vagrant.distribution import Download, Machines
from devcluster.providers.vagrant.driver import CONTROL_PLANE_ENDPOINT, POD_CIDR

ADMIN_CONF = "/etc/kubernetes/admin.conf"
# Into the containerd namespace the kubelet uses, so pods find the image without pulling it.
CTR_IMPORT = ["ctr", "-n", "k8s.io", "images", "import", "-"]


def parse_join_material(output: str) -> dict[str, str]:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    missing = [k for k in ("ENDPOINT", "TOKEN", "CA_CERT_HASH") if not values.get(k)]
    if missing:
        raise DevclusterError(f"mint-join.sh on the first control plane did not print {', '.join(missing)}")
    return values


class Kubeadm:
    name = "kubeadm"
    admin_conf = ADMIN_CONF
    image_import = CTR_IMPORT
    bundled_local_path: tuple[str, str] | None = None  # devcluster installs local-path-provisioner itself
    provisions_registry_hosts = True  # provisioning/registry-mirrors.sh, before kubeadm init pulls anything

    def __init__(self, machines: Machines) -> None:
        self.machines = machines

    @property
    def vm_download(self) -> Download | None:
        """Flannel, applied by the first control plane's provisioning (patched there with --iface=eth1)."""
        v = self.machines.settings
        return Download("the Flannel manifest", v.flannel_manifest, v.flannel_sha256,
                        self.machines.state.path("kube-flannel.yml"))

    def pulls_from_local_registry(self, port: int) -> list[str]:
        return ["test", "-f", f"{CERTS_DIR}/localhost:{port}/hosts.toml"]

    def first_vm_summary(self) -> str:
        v = self.machines.settings
        return (f"containerd, kubeadm {v.kubernetes_package_version}, kubelet --node-ip on eth1, kubeadm init "
                f"(endpoint {CONTROL_PLANE_ENDPOINT}:6443, --upload-certs, pod CIDR {POD_CIDR}), Flannel patched "
                "with --iface=eth1")

    def first_vm_done(self, ctx: Context) -> bool:
        """kubeadm init ran (Vagrant provisions it with the VM)."""
        with self.machines.session(self.machines.first.name) as s:
            return s.run(["test", "-f", ADMIN_CONF], sudo=True, check=False).exit_status == 0

    def prepare_steps(self) -> list[Step]:
        return []

    def bootstrap_steps(self) -> list[Step]:
        return []  # the first VM's provisioning is the bootstrap

    def join_summary(self) -> str:
        return (f"a fresh token (and certificate key for control planes) minted on {self.machines.first.name}, "
                "passed on stdin over SSH; a failed join is reset (`kubeadm reset`) and its VM made again")

    def join(self, ctx: Context, node: VagrantNode) -> None:
        control_plane = node.role == "control-plane"
        flag = ["--control-plane"] if control_plane else []
        targets = self.machines.targets()
        with self.machines.session(self.machines.first.name, targets) as cp:
            material = parse_join_material(cp.run_script(asset_dir("provisioning") / "mint-join.sh", flag, {}).stdout)
        stdin = "".join(f"{k}={v}\n" for k, v in material.items())
        ctx.console.print(f"  joining {node.name} as {node.role} (fresh token"
                          + (" and certificate key)" if control_plane else ")"))
        with self.machines.session(node.name, targets) as s:
            s.run_script(asset_dir("provisioning") / "join.sh", flag, {"NODE_IP": node.ip}, stdin_data=stdin)
