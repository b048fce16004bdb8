"""Throw-away charts for the real helm, and a release's status as helm reports it (shared by the crash tests on
the fake API and on the real control plane)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def write_chart(root: Path, template: str, name: str = "traefik", version: str = "0.1.0") -> Path:
    """A chart at ``root`` whose only template is ``template``; named like the release devcluster manages."""
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (root / "templates" / "chart.yaml").write_text(template)
    return root


def release_status(helm: str | Path, kubeconfig: Path, name: str, namespace: str) -> str:
    """`helm status`'s info.status (pending-install, deployed, ...), or "not installed"."""
    proc = subprocess.run([str(helm), "status", name, "-n", namespace, "-o", "json", "--kubeconfig", str(kubeconfig)],
                          capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout)["info"]["status"] if proc.returncode == 0 else "not installed"
