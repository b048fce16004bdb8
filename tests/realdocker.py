"""A real dockerd of the test's own (data root, exec root, socket, bridge), and a registry image for it.

Debian's docker.io runs unprivileged containers here. No image can be pulled, so the registry image is
`docker import`ed from Debian's docker-registry binary (distribution 2.8) and the libc it links; it
serves the same config path as the official image. The bridge is the test's own (`dcreg<n>`, a private
/24), so nothing touches another dockerd's docker0; containers reach only that bridge and loopback.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tests.realregistry import wait_daemon

REGISTRY_IMAGE = "devcluster-test/registry:2.8"


def _unused_bridge_address() -> str:
    """A /24 in 10.251.0.0/16 no interface of this machine has (other test runs may hold one at the same time)."""
    taken = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=False).stdout
    for third in random.Random().sample(range(1, 255), 254):
        if f" 10.251.{third}." not in taken:
            return f"10.251.{third}.1"
    raise RuntimeError("no free /24 in 10.251.0.0/16")


BRIDGE_ADDRESS = _unused_bridge_address() if shutil.which("ip") else "10.251.77.1"
_LIBS = ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")
_CONFIG = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n"


def skip_reason() -> str:
    missing = [t for t in ("dockerd", "docker", "docker-registry", "ip") if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install -y docker.io docker-registry)"
    if os.geteuid() != 0:
        return "dockerd needs root"
    if not all(Path(p).exists() for p in _LIBS):
        return "the registry image is built from this machine's x86_64 libc"
    return ""


class Dockerd:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dkd", dir="/tmp"))
        self.host = f"unix://{self.dir}/d.sock"
        self.bridge = f"dcreg{os.getpid() % 10000}"
        self.proc: subprocess.Popen[bytes] | None = None

    def docker(self, *args: str, check: bool = True, input_bytes: bytes | None = None
               ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], check=check, capture_output=True, input=input_bytes, timeout=120,
                              env={**os.environ, "DOCKER_HOST": self.host})

    def start(self) -> Dockerd:
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        with open(self.dir / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", str(self.dir / "root"), "--exec-root", str(self.dir / "exec"),
                 "--pidfile", str(self.dir / "d.pid"), "--host", self.host, "--iptables=false", "--ip-masq=false",
                 "--bridge", self.bridge, "--dns", "127.0.0.1"], stdout=log, stderr=log)
        wait_daemon("dockerd", self.proc, lambda: self.docker("version", check=False).returncode == 0,
                    self.dir / "dockerd.log", 30)
        return self

    def import_registry_image(self) -> str:
        tar_path = self.dir / "registry.tar"
        with tarfile.open(tar_path, "w", dereference=True) as tar:  # merged /usr: /lib64 entries are symlinks
            tar.add("/usr/bin/docker-registry", "bin/registry")
            for lib in _LIBS:
                tar.add(lib, lib.lstrip("/"))
            config = self.dir / "config.yml"
            config.write_text(_CONFIG)
            tar.add(str(config), "etc/docker/registry/config.yml")
        self.docker("import", "-c", 'ENTRYPOINT ["/bin/registry", "serve", "/etc/docker/registry/config.yml"]',
                    str(tar_path), REGISTRY_IMAGE)
        return REGISTRY_IMAGE

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            ids = self.docker("ps", "-aq", check=False).stdout.decode().split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
        for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = mount.split()[1]
            if target.startswith(str(self.dir)):
                subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
