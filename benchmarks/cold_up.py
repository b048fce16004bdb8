"""Cold `devcluster up` against the bare kubectl/helm sequence doing the same installs, on the same real API server.

Both start from an empty control plane (../shared/k8s-1.30: real etcd, kube-apiserver, controller-manager and
scheduler; fake kubelets that report pods Ready and complete Jobs, exec answered from a canned script), with the
same charts (the Traefik stand-in chart and the test charts with forail-helm's and forail-operator's values
interfaces) and the real helm. The bare sequence is what a person would type: apply local-path and make it the
default class, `helm upgrade --install --wait` Traefik, create the namespace and the TLS secret, install Forail
with `--wait --wait-for-jobs` (the init Job makes the admin user the token
needs), mint the token with `kubectl exec`, install the operator with `--wait`. devcluster does all that
and more (checks before and after every step, CoreDNS rewrite, hosts block, the verify: ping, CRDs, the sample
Inventory reconciled, a job launched and waited for), so the figure to watch is the ratio; the target is <= 1.0.

Not a test: it times, and times vary. Usage: python benchmarks/cold_up.py [--runs N]; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import realk8s  # noqa: E402
from tests.forail_standin import ForailStandIn, start_standin  # noqa: E402
from tests.unit.test_real_apiserver import Operator, write_config  # noqa: E402

CHARTS = REPO / "tests" / "fixtures" / "charts"
TOOLS = REPO / ".tools" / "bin"


def run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, input=stdin)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def bare_sequence(kubeconfig: Path, work: Path, http_port: int) -> float:
    """The same installs by hand, one after another. Inputs (values files, a certificate) are made first and
    not timed: a person would have them ready too."""
    from devcluster import config
    from devcluster.local.tls import generate

    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"}
    kubectl, helm = str(TOOLS / "kubectl"), shutil.which("helm", path=str(TOOLS)) or "helm"
    cfg = config.load(None)
    pair = generate(cfg.hostname)
    (work / "tls.crt").write_bytes(pair.cert_pem)
    (work / "tls.key").write_bytes(pair.key_pem)
    traefik = work / "traefik.yaml"
    traefik.write_text(yaml.safe_dump({"service": {"type": "NodePort"},
                                       "ports": {"web": {"nodePort": http_port}, "websecure": {"nodePort": 30443}},
                                       "ingressClass": {"enabled": True, "isDefaultClass": True, "name": "traefik"}}))
    forail = work / "forail.yaml"
    forail.write_text(yaml.safe_dump({"secrets": {"forailAdminPassword": "x" * 32},
                                      "forail": {"node": {"type": "hybrid"}},
                                      "task": {"privileged": True, "hostCgroup": True}}))
    start = time.perf_counter()
    run([kubectl, "apply", "--server-side", "-f", str(REPO / "tests" / "fixtures" / "local-path-storage.yaml")], env)
    run([kubectl, "annotate", "--overwrite", "storageclass", "standard",
         "storageclass.kubernetes.io/is-default-class=false"], env)
    run([kubectl, "annotate", "--overwrite", "storageclass", "local-path",
         "storageclass.kubernetes.io/is-default-class=true"], env)
    run([helm, "upgrade", "--install", "traefik", str(CHARTS / "traefik-standin"), "-n", "traefik",
         "--create-namespace", "-f", str(traefik), "--wait"], env)
    run([kubectl, "create", "namespace", "forail"], env)
    run([kubectl, "-n", "forail", "create", "secret", "tls", "forail-tls", "--cert", str(work / "tls.crt"),
         "--key", str(work / "tls.key")], env)
    # --wait-for-jobs: the token can only be minted once the init Job made the admin user
    run([helm, "upgrade", "--install", "forail", str(CHARTS / "forail-test"), "-n", "forail", "-f", str(forail),
         "--wait", "--wait-for-jobs"], env)
    token = run([kubectl, "-n", "forail", "exec", "deploy/forail-web", "--", "forail-manage", "create_oauth2_token",
                 "--user", "admin"], env).strip().splitlines()[-1]
    values = work / "operator.yaml"
    values.write_text(yaml.safe_dump({"forail": {"token": token, "url": "http://forail-web.forail.svc:8013"}}))
    run([helm, "upgrade", "--install", "forail-operator", str(CHARTS / "forail-operator-test"), "-n",
         "forail-operator", "--create-namespace", "-f", str(values), "--wait"], env)
    return time.perf_counter() - start


def noop_figures(kubeconfig: Path, work: Path, runs: int) -> tuple[float, float]:
    """On the cluster a cold `up` just made: a no-op re-run of `up` (median), and the reference the no-op target
    is set against, one `helm upgrade --install --wait` of the Traefik chart (median)."""
    env = {**os.environ, "DEVCLUSTER_STATE_DIR": str(work / "state"), "COLUMNS": "200",
           "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": str(kubeconfig)}
    env.pop("DEVCLUSTER_FORAIL_TOKEN", None)
    noop, helm_once = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = run([sys.executable, "-m", "devcluster", "up", "--config", str(work / "devcluster.yaml"),
                   "--kubeconfig", str(kubeconfig)], env)
        noop.append(time.perf_counter() - start)
        # target and verify have no check of their own: they are read-only checks, run every time
        if any(line.startswith("→") and not line.startswith(("→ target", "→ verify:")) for line in out.splitlines()):
            raise SystemExit(f"the re-run was not a no-op:\n{out}")
    for _ in range(runs):  # after the re-runs: each makes a new Traefik revision, which `up` would then upgrade
        start = time.perf_counter()
        run([shutil.which("helm", path=str(TOOLS)) or "helm", "upgrade", "--install", "traefik",
             str(CHARTS / "traefik-standin"), "-n", "traefik", "--reuse-values", "--wait"], env)
        helm_once.append(time.perf_counter() - start)
    return statistics.median(noop), statistics.median(helm_once)


def devcluster_up(kubeconfig: Path, work: Path, http_port: int, plane: realk8s.ControlPlane,
                  noop_runs: int = 0) -> tuple[float, tuple[float, float] | None]:
    hosts = work / "hosts"
    hosts.write_text("")
    cfg = write_config(work / "devcluster.yaml", http_port, hosts)
    env = {**os.environ, "DEVCLUSTER_STATE_DIR": str(work / "state"), "COLUMNS": "200",
           "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DEVCLUSTER_FORAIL_TOKEN", None)
    operator = Operator(plane)
    try:
        start = time.perf_counter()
        run([sys.executable, "-m", "devcluster", "up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)], env)
        cold = time.perf_counter() - start
        return cold, noop_figures(kubeconfig, work, noop_runs) if noop_runs else None
    finally:
        operator.stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    reason = realk8s.unavailable_reason()
    if reason:
        raise SystemExit(reason)
    ForailStandIn.reset()
    ForailStandIn.accepted_tokens.add(realk8s.MINTED_TOKEN)
    server = start_standin()
    port = server.server_address[1]
    figures: dict[str, list[float]] = {"bare": [], "devcluster": []}
    root = Path(tempfile.mkdtemp(prefix="devcluster-coldup-"))
    noop: tuple[float, float] | None = None
    for i in range(args.runs):
        for name in ("bare", "devcluster"):
            work = root / f"{name}-{i}"
            work.mkdir()
            plane = realk8s.start(root / f"k8s-{name}-{i}")  # an empty cluster each time (not timed)
            try:
                if name == "bare":
                    seconds = bare_sequence(plane.kubeconfig, work, port)
                else:
                    seconds, extra = devcluster_up(plane.kubeconfig, work, port, plane,
                                                   noop_runs=3 if i == args.runs - 1 else 0)
                    noop = extra or noop
            finally:
                plane.down()
            figures[name].append(seconds)
            print(f"run {i + 1} {name}: {seconds:.2f} s", file=sys.stderr)
    bare, dc = statistics.median(figures["bare"]), statistics.median(figures["devcluster"])
    print(f"Cold up on a real Kubernetes 1.30 control plane (../shared/k8s-1.30, fake kubelets), real helm "
          f"{run([shutil.which('helm', path=str(TOOLS)) or 'helm', 'version', '--short'], dict(os.environ)).strip()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"median of {args.runs} runs ({json.dumps(figures)}).\n")
    print("| figure | median | ratio | target |\n|---|---|---|---|")
    print(f"| bare kubectl/helm sequence | {bare:.2f} s | 1.00 x | |")
    print(f"| cold `devcluster up` (same installs + checks + verify with a job) | {dc:.2f} s | {dc / bare:.2f} x | "
          f"<= 1.0 x |")
    if noop:
        print(f"| no-op `up` re-run (the stack, verified) | {noop[0]:.2f} s | {noop[0] / noop[1]:.2f} x one helm "
              f"upgrade | <= 0.5 x |")
        print(f"| one `helm upgrade --install --wait` of Traefik (reference) | {noop[1]:.2f} s | | |")
    server.shutdown()


if __name__ == "__main__":
    main()
