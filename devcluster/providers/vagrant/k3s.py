"""The k3s distribution, as forail-dev-cluster runs it today, without its dev shortcuts.

One pinned k3s binary, checksum-verified on this machine and again on each VM (a mirror or local file
via vagrant.k3s_binary); embedded etcd (the first server `--cluster-init`, the other servers join it);
`--flannel-iface=eth1` and `--node-ip` on every node, so nothing needs patching afterwards; TLS SANs for
every server address and the endpoint name. Not copied: the hard-coded join token (here a fresh random
one per cluster, 0600, handed over on stdin, on disk in the VM only as a 0600 token file), the
world-readable kubeconfig (0600 on both sides) and the unpinned `curl | sh` installer.

k3s' bundled Traefik is disabled (`--disable=traefik`): devcluster installs its own pinned Traefik on
NodePorts 30080/30443 on both distributions. Its bundled local-path-provisioner is kept: it already
serves `rancher.io/local-path` behind a class named `local-path`, which devcluster keeps the only default.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

from devcluster.assets import asset_dir
from devcluster.clients import fetch
from devcluster.clients.ssh import SshTarget
from devcluster.config import VagrantNode
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import write_private
from devcluster.providers.vagrant.distribution import Download, Machines
from devcluster.providers.vagrant.driver import CONTROL_PLANE_ENDPOINT
from devcluster.providers.vagrant.registry import k3s_registries_yaml

ADMIN_CONF = "/etc/rancher/k3s/k3s.yaml"
# k3s' ctr talks to its own containerd; k8s.io is the namespace its kubelet uses.
K3S_CTR_IMPORT = ["k3s", "ctr", "-n", "k8s.io", "images", "import", "-"]
TOKEN_FILE = "k3s-token"
REMOTE_BINARY = "/tmp/devcluster-k3s"
REGISTRIES_YAML = "/etc/rancher/k3s/registries.yaml"
REGISTRIES_KEY = "REGISTRIES_YAML_B64"  # k3s-install.sh's stdin key for /etc/rancher/k3s/registries.yaml


def checksum_from_list(text: str, artifact: str = "k3s") -> str:
    """The sha256 of ``artifact`` in a release's sha256sum-<arch>.txt (`<sha256>  <file>` lines)."""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[1].lstrip("*") == artifact and len(words[0]) == 64:
            return words[0].lower()
    raise DevclusterError(f"no checksum for `{artifact}` in the k3s release's checksum list",
                          "set vagrant.k3s_sha256 to the binary's sha256")


class K3s:
    name = "k3s"
    admin_conf = ADMIN_CONF
    image_import = K3S_CTR_IMPORT
    # rancher.io/local-path, class local-path: kept, and the only default class.
    bundled_local_path: tuple[str, str] | None = ("kube-system", "local-path-provisioner")
    vm_download: Download | None = None  # the VMs' provisioning only prepares the kernel; k3s follows over SSH
    provisions_registry_hosts = False  # k3s-install.sh writes registries.yaml (install_stdin)

    def __init__(self, machines: Machines) -> None:
        self.machines = machines

    # -- the binary

    def _source(self, template: str) -> str:
        return template.replace("{version}", self.machines.settings.k3s_version)

    @property
    def binary_path(self) -> Path:
        return self.machines.state.path(f"k3s/k3s-{self.machines.settings.k3s_version}")

    def _binary_done(self, ctx: Context) -> bool:
        record = self.binary_path.with_suffix(".sha256")
        if not (self.binary_path.is_file() and record.is_file()):
            return False
        return hashlib.sha256(self.binary_path.read_bytes()).hexdigest() == record.read_text().strip()

    def _fetch_binary(self, ctx: Context) -> None:
        v = self.machines.settings
        cache = self.machines.state.path("cache")
        expected = v.k3s_sha256 or checksum_from_list(fetch.fetch(self._source(v.k3s_checksums), cache).decode())
        data = fetch.fetch(self._source(v.k3s_binary), cache, expected)
        write_private(self.binary_path, data)
        write_private(self.binary_path.with_suffix(".sha256"), expected + "\n")

    def prepare_steps(self) -> list[Step]:
        v = self.machines.settings
        pin = f"sha256 {v.k3s_sha256}" if v.k3s_sha256 else "the sha256 published with the release"
        return [Step("k3s-binary", f"fetch k3s {v.k3s_version} ({self._source(v.k3s_binary)}), verified against "
                     f"{pin}", self._fetch_binary, self._binary_done,
                     hint="offline? set vagrant.k3s_binary (and k3s_sha256) to a local copy")]

    def bootstrap_steps(self) -> list[Step]:
        first = self.machines.first
        return [
            Step(f"k3s-{first.name}", f"k3s server --cluster-init on {first.name} (embedded etcd, "
                 f"--flannel-iface=eth1, --node-ip {first.ip}, TLS SANs {', '.join(self.tls_sans())}), "
                 "token on stdin", lambda ctx: self.install(ctx, first, self.machines.targets()),
                 self.first_node_done, hint=f"devcluster ssh {first.name}; sudo journalctl -u k3s"),
        ]

    # -- the cluster token: fresh per cluster, never on a command line

    def token(self) -> str:
        path = self.machines.state.path(TOKEN_FILE)
        if not path.is_file():
            write_private(path, secrets.token_hex(32) + "\n")
        return path.read_text().strip()

    # -- installing k3s on a node

    def tls_sans(self) -> list[str]:
        return [n.ip for n in self.machines.nodes if n.role == "control-plane"] + [CONTROL_PLANE_ENDPOINT]

    def _role(self, node: VagrantNode) -> str:
        return "server" if node.role == "control-plane" else "agent"

    def install_stdin(self) -> str:
        """What k3s-install.sh reads on stdin: the token, and registries.yaml (base64, one line) when the
        registry or the caches are on, so k3s starts with them; neither is ever in argv."""
        lines = f"TOKEN={self.token()}\n"
        registries = k3s_registries_yaml(self.machines.registry, self.machines.settings)
        if registries:
            lines += f"{REGISTRIES_KEY}={base64.b64encode(registries.encode()).decode()}\n"
        return lines

    def install(self, ctx: Context, node: VagrantNode, targets: dict[str, SshTarget]) -> None:
        first = node.name == self.machines.first.name
        env = {
            "NODE_IP": node.ip,
            "K3S_BINARY": REMOTE_BINARY,
            "K3S_SHA256": self.binary_path.with_suffix(".sha256").read_text().strip(),
            "SERVER_URL": "" if first else f"https://{self.machines.first.ip}:6443",
        }
        if node.role == "control-plane":
            env["TLS_SANS"] = ",".join(self.tls_sans())
        ctx.console.print(f"  k3s {self._role(node)} on {node.name}"
                          + (" (--cluster-init)" if first else f" joining {env['SERVER_URL']}"))
        with self.machines.session(node.name, targets) as s:
            s.put(self.binary_path, REMOTE_BINARY)
            try:
                s.run_script(asset_dir("provisioning") / "k3s-install.sh", [self._role(node)], env,
                             stdin_data=self.install_stdin())
            finally:
                s.run(["rm", "-f", REMOTE_BINARY], sudo=True, check=False)

    def first_node_done(self, ctx: Context) -> bool:
        with self.machines.session(self.machines.first.name) as s:
            return s.run(["systemctl", "is-active", "--quiet", "k3s"], sudo=True, check=False).exit_status == 0

    # -- the others

    def first_vm_done(self, ctx: Context) -> bool:
        return True  # the VM's provisioning does nothing of k3s: the k3s step installs it

    def pulls_from_local_registry(self, port: int) -> list[str]:
        return ["grep", "-qF", f"localhost:{port}", REGISTRIES_YAML]

    def first_vm_summary(self) -> str:
        return "kernel settings for Kubernetes and a serial console (k3s follows over SSH)"

    def join_summary(self) -> str:
        return (f"k3s on each: servers join {self.machines.first.name}'s embedded etcd, agents join as workers, "
                "--flannel-iface=eth1 everywhere, the cluster's token on stdin; a failed join is undone and its VM "
                "made again")

    def join(self, ctx: Context, node: VagrantNode) -> None:
        self.install(ctx, node, self.machines.targets())
