"""Real registries and a real containerd on loopback, for the registry tests and the benchmark.

Debian's `docker-registry` (distribution 2.8) plays the upstream and the pull-through cache, `skopeo`
pushes OCI images built here, and Debian's `containerd` with its own root, state and socket (nothing of
the machine's) pulls with `ctr --hosts-dir`. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("docker-registry", "skopeo", "containerd", "ctr")
# distribution's access log (combined format): "GET /v2/lib/app/blobs/sha256:... HTTP/1.1" 200 200249 "" "ua"
_ACCESS = re.compile(r'"(?P<verb>[A-Z]+) (?P<uri>/v2/\S+) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                     r'"[^"]*" "(?P<agent>[^"]*)"')


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def skip_reason() -> str:
    """Why the real-component tests cannot run here ('' when they can)."""
    missing = missing_tools()
    if missing:
        return f"needs {', '.join(missing)} (apt-get install -y containerd docker-registry skopeo)"
    if os.geteuid() != 0:
        return "containerd needs root"
    return ""


def wait_daemon(name: str, proc: subprocess.Popen[bytes], answers: Callable[[], bool], log: Path,
                timeout: float) -> None:
    """Until ``answers()``; a daemon that exits or stays silent fails with the end of its log."""
    deadline = time.monotonic() + timeout
    while not answers():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{name} did not start: " + log.read_text()[-2000:])
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Served:
    """What a registry's access log says it served: body bytes of blob/manifest GETs, and who asked."""

    bytes: int = 0
    requests: int = 0
    agents: set[str] = field(default_factory=set)


class Registry:
    """One `docker-registry serve` on 127.0.0.1:<port>; ``env`` is distribution's REGISTRY_* overrides."""

    def __init__(self, root: Path, port: int, env: Mapping[str, str] | None = None, address: str = "127.0.0.1"
                 ) -> None:
        self.root, self.port, self.extra, self.address = root, port, dict(env or {}), address
        self.log = root / "access.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self) -> Registry:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {self.root / 'data'}\nhttp:\n  addr: {self.address}:{self.port}\n")
        env = {"PATH": os.environ["PATH"], **self.extra}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log, env=env)
        wait_http(self.url + "/v2/")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def served(self, since: int = 0) -> Served:
        out = Served()
        with open(self.log, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
        for m in _ACCESS.finditer(text):
            if m["verb"] != "GET" or not re.search(r"/(blobs|manifests)/", m["uri"]) or m["status"] != "200":
                continue
            out.bytes += int(m["bytes"]) if m["bytes"] != "-" else 0
            out.requests += 1
            out.agents.add(m["agent"].split("/")[0])
        return out


def oci_layout(dest: Path, tag: str, layer_bytes: int = 200_000, seed: int = 0, layers: int = 1) -> Path:
    """An OCI image layout with ``layers`` layers of random (incompressible) bytes; reproducible per seed."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)

    def blob(data: bytes, media: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media, "digest": "sha256:" + digest, "size": len(data)}

    descs, diff_ids = [], []
    for i in range(layers):
        buf = io.BytesIO()
        payload = rnd.randbytes(layer_bytes)
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(f"layer{i}.bin")
            info.size, info.mtime = len(payload), 0
            tar.addfile(info, io.BytesIO(payload))
        raw = buf.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descs.append(blob(gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"))
    config = {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cfg = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg,
                "layers": descs}
    man = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    man["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [man]}))
    return dest


def skopeo_push(layout: Path, tag: str, ref: str) -> None:
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{ref}"],
                   check=True, capture_output=True, timeout=120)


class Containerd:
    """A containerd of its own (root, state, socket in a short temp dir): one cluster's node runtime."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ctd", dir="/tmp"))  # a unix socket path must stay short
        self.socket = self.dir / "c.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Containerd:
        config = self.dir / "config.toml"
        config.write_text(f'version = 2\nroot = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                          'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                          f'[grpc]\n  address = "{self.socket}"\n[ttrpc]\n  address = "{self.socket}.ttrpc"\n')
        with open(self.dir / "containerd.log", "ab") as log:
            self.proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=log)
        wait_daemon("containerd", self.proc, lambda: self.ctr("version", check=False).returncode == 0,
                    self.dir / "containerd.log", 15)
        return self

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", str(self.socket), *args], check=check, capture_output=True,
                              text=True, timeout=120)

    def pull(self, ref: str, hosts_dir: Path) -> subprocess.CompletedProcess[str]:
        return self.ctr("images", "pull", "--hosts-dir", str(hosts_dir), ref)

    def forget(self, ref: str) -> None:
        """Remove the image and let the garbage collector drop its content: the next pull fetches it all."""
        self.ctr("images", "rm", "--sync", ref)
        left = self.ctr("content", "ls", "-q").stdout.split()
        if left:
            raise AssertionError(f"content left after removing {ref}: {left}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = mount.split()[1]
            if target.startswith(str(self.dir)):
                subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
