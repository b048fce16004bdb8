"""A real Kubernetes 1.30 control plane on loopback for API-boundary tests: ../shared/k8s-1.30 (real etcd,
kube-apiserver, kube-controller-manager and kube-scheduler; fake kubelets that report pods Running and Ready,
complete Jobs and answer `pods/exec` from a canned script). No container runs and Services do not route.

Where ../shared is not there (a fresh clone elsewhere), the tests that need it skip and say so. Everything the
harness writes goes to the test's own K8S_HOME; its ports are picked free on 127.0.0.1 each time.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO.parent / "shared" / "k8s-1.30"
# The token the fake web pod's `forail-manage create_oauth2_token` prints (canned: nothing is executed).
MINTED_TOKEN = "fkr-realk8s-0d1a6c3b9e5f4c21a7b8d9e0"


def unavailable_reason() -> str | None:
    if not (HARNESS / "up.sh").is_file():
        return f"no real control plane here: {HARNESS}/up.sh is not there (../shared is the workplace's)"
    for tool in ("xz", "curl"):
        if not any((Path(d) / tool).is_file() for d in os.environ.get("PATH", "").split(os.pathsep)):
            return f"the control plane harness needs {tool}"
    return None


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class ControlPlane:
    home: Path
    env: dict[str, str]

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    def down(self) -> None:
        subprocess.run(["bash", str(HARNESS / "down.sh"), "--purge"], env=self.env, capture_output=True,
                       timeout=120, check=False)


def start(home: Path) -> ControlPlane:
    home.mkdir(parents=True, exist_ok=True)
    script = home / "exec-script.yaml"
    script.write_text(
        "commands:\n"
        "- name: oauth2-token\n"
        "  argv: [forail-manage, create_oauth2_token, --user, admin]\n"
        "  stdout: |\n"
        "    Created OAuth2 personal access token for user 'admin' (application: forail-cli, scope: write)\n"
        f"    {MINTED_TOKEN}\n")
    api, etcd, peer, kcm, sched, kubelet = free_ports(6)
    # the fake nodes' addresses and kubelet port are this run's own, so another harness on this machine (a
    # developer's, another test run's) cannot answer for them
    net = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
    nodes = f"realk8s-control-plane=control-plane@{net}.1,realk8s-worker@{net}.2,realk8s-worker2@{net}.3"
    kubectl = REPO / ".tools" / "bin" / "kubectl"
    env = {**os.environ, "K8S_HOME": str(home), "K8S_PYTHON": sys.executable, "API_PORT": str(api),
           "ETCD_PORT": str(etcd), "ETCD_PEER_PORT": str(peer), "KCM_PORT": str(kcm), "SCHED_PORT": str(sched),
           "HARNESS_EXEC_SCRIPT": str(script), "HARNESS_NODES": nodes,
           "FAKE_KUBELET_ARGS": f"--kubelet-port {kubelet}"}
    if kubectl.is_file():
        env["K8S_KUBECTL"] = str(kubectl)
    proc = subprocess.run(["bash", str(HARNESS / "up.sh"), "--fresh"], env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    plane = ControlPlane(home, env)
    if proc.returncode != 0:
        plane.down()
        raise RuntimeError(f"the control plane did not start:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return plane
