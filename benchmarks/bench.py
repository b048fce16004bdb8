"""The figures issue 11 sets targets for, as medians over several runs, with their ratios.

Against the cluster in $KUBECONFIG when one is given (provider `existing`, the Traefik chart installed
the way `up` installs it), or else against tests/fakeapi.py on loopback with the recording fake helm
(tests/fixtures/fake_helm.py): then the "one helm upgrade --install" reference is the real helm binary
rendering the Forail test chart (`helm template`: one helm process start plus a render), and the output
says so. Prints a Markdown table for docs/performance.md. Not a test: it times, and times vary.

Usage: python benchmarks/bench.py [--runs N]
"""

from __future__ import annotations

import argparse
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


def median_seconds(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return statistics.median(times)


def fake_setup(work: Path) -> tuple[dict[str, str], Path, list[str], object]:
    """A kind-like fake cluster with the prerequisites and the test stack installed by one `up`."""
    from tests.fakeapi import FakeApiServer
    from tests.unit.test_prereqs_api import kind_like_cluster
    from tests.unit.test_stack import node_port_server

    api = FakeApiServer().start()
    kind_like_cluster(api)
    api.write_kubeconfig(work / "kubeconfig", "kind-bench")
    ingress = node_port_server()  # answers /api/v2/ping/ for forail.lan like Traefik + Forail would
    bindir = work / "bin"
    bindir.mkdir()
    fake_helm = bindir / "helm"
    fake_helm.write_text(f"#!{sys.executable}\n" + (REPO / "tests" / "fixtures" / "fake_helm.py").read_text())
    fake_helm.chmod(0o755)
    real_helm = shutil.which("helm", path=str(REPO / ".tools" / "bin")) or shutil.which("helm") or ""
    hosts = work / "hosts"
    hosts.write_text("")
    charts = REPO / "tests" / "fixtures" / "charts"
    cfg = work / "devcluster.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "bench", "hosts": {"file": str(hosts)},
        "node_ports": {"http": ingress.server_address[1], "https": 30443},
        "addons": {"local_path": {"manifest": str(REPO / "tests" / "fixtures" / "local-path-storage.yaml")}},
        "stack": {"sample_cr": False, "releases": [
            {"name": "forail", "chart": str(charts / "forail-test"), "namespace": "forail", "kind": "forail"},
            {"name": "forail-operator", "chart": str(charts / "forail-operator-test"),
             "namespace": "forail-operator", "kind": "forail-operator"}]},
    }))
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FAKE_HELM_STATE": str(work / "h.json"),
           "REAL_HELM": real_helm, "DEVCLUSTER_STATE_DIR": str(work / "state"),
           "DEVCLUSTER_FORAIL_TOKEN": "bench-token-0123456789", "COLUMNS": "200"}
    reference = [real_helm, "template", "forail", str(charts / "forail-test"), "--set",
                 "secrets.forailAdminPassword=x"]
    return env, cfg, reference, api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devcluster-bench-"))
    devcluster = [sys.executable, "-m", "devcluster"]
    api = None
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if kubeconfig:
        target = f"the cluster in KUBECONFIG ({kubeconfig})"
        env = {**os.environ, "DEVCLUSTER_STATE_DIR": str(work / "state"), "COLUMNS": "200"}
        cfg = work / "devcluster.yaml"
        cfg.write_text(yaml.safe_dump({"name": "bench", "hosts": {"manage": False}, "stack": {"enabled": False}}))
        reference = ["helm", "upgrade", "--install", "traefik", "traefik", "--repo", "https://traefik.github.io/charts",
                     "--version", "34.4.1", "--namespace", "traefik", "--reuse-values"]
        reference_name = "one `helm upgrade --install` of the Traefik chart"
        cluster_opts = ["--kubeconfig", kubeconfig]
    else:
        target = "tests/fakeapi.py on loopback (no KUBECONFIG given), with the recording fake helm"
        env, cfg, reference, api = fake_setup(work)
        reference_name = "one real `helm template` of the Forail test chart (helm start + render)"
        cluster_opts = ["--kubeconfig", str(work / "kubeconfig")]
    up = [*devcluster, "up", "--config", str(cfg), *cluster_opts]
    ready = subprocess.run(up, env=env, cwd=work, capture_output=True, text=True, timeout=1800)  # make it ready
    if ready.returncode != 0:
        raise SystemExit(f"the first `up` failed:\n{ready.stdout}\n{ready.stderr}")
    figures = {
        "python -c pass": median_seconds([sys.executable, "-c", "pass"], args.runs, env, work),
        "devcluster --help": median_seconds([*devcluster, "--help"], args.runs, env, work),
        "devcluster up --help": median_seconds([*devcluster, "up", "--help"], args.runs, env, work),
        "no-op up --skip-stack": median_seconds([*up, "--skip-stack"], args.runs, env, work),
        "no-op up": median_seconds(up, args.runs, env, work),
        "status": median_seconds([*devcluster, "status", "--config", str(cfg), *cluster_opts], args.runs, env, work),
        "reference": median_seconds(reference, args.runs, env, work),
    }
    ref, noop = figures["reference"], figures["no-op up"]
    rows = [
        ("`devcluster --help`", figures["devcluster --help"],
         f"pass + {1000 * (figures['devcluster --help'] - figures['python -c pass']):.0f} ms", "<= pass + 150 ms"),
        ("`devcluster up --help`", figures["devcluster up --help"],
         f"pass + {1000 * (figures['devcluster up --help'] - figures['python -c pass']):.0f} ms", "<= pass + 150 ms"),
        ("no-op `up --skip-stack`", figures["no-op up --skip-stack"],
         f"{figures['no-op up --skip-stack'] / ref:.2f} x reference", "<= 0.5 x reference"),
        ("no-op `up` (two releases)", noop, f"{noop / ref:.2f} x reference", "<= 1.0 x reference"),
        ("`status`", figures["status"], f"{figures['status'] / noop:.2f} x no-op up", "<= 0.5 x no-op up"),
    ]
    print(f"Benchmark on {platform.node()} ({platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}, median of {args.runs} runs")
    print(f"Target: {target}. Reference: {reference_name} = {ref:.3f} s; python -c pass = "
          f"{figures['python -c pass']:.3f} s.\n")
    print("| figure | median | ratio | target |\n|---|---|---|---|")
    for name, seconds, ratio, goal in rows:
        print(f"| {name} | {seconds:.3f} s | {ratio} | {goal} |")
    if api is not None:
        api.stop()  # type: ignore[attr-defined]
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
