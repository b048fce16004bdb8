"""Helm through the runner.

Values always travel in a 0600 file under the state dir that is deleted
right after the command, never as ``--set`` arguments: argv is visible to
every user on the machine (ps, /proc) and ends up in CI logs.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devcluster.clients import runner
from devcluster.clients.access import ClusterAccess
from devcluster.errors import DevclusterError
from devcluster.local.state import write_private

HELM_HINT = "install helm 3.12+ (https://helm.sh/docs/intro/install/) and make sure it is on PATH"
# What helm records while an install/upgrade/rollback runs, and leaves behind when it dies mid-way: every later
# `helm upgrade` then fails "another operation (install/upgrade/rollback) is in progress".
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


@dataclass
class ChartRef:
    """Where a chart comes from: a local directory, an OCI reference, or a name in a repo."""

    chart: str
    repo: str = ""
    version: str = ""

    def args(self) -> list[str]:
        out = [self.chart]
        if self.repo:
            out += ["--repo", self.repo]
        if self.version:
            out += ["--version", self.version]
        return out


@dataclass
class Release:
    """A release and its values in helm's precedence order, lowest first:
    ``generated`` (derived by devcluster) < ``values_files`` (the user's files, in order) < ``values``
    (the user's inline values). Helm applies ``--values`` left to right, the last one wins."""

    name: str
    namespace: str
    chart: ChartRef
    values: dict[str, Any] = field(default_factory=dict)
    values_files: list[str] = field(default_factory=list)
    wait: bool = True
    timeout: int = 600
    generated: dict[str, Any] = field(default_factory=dict)
    # What identifies the chart when its location is not yet known or says nothing about its content:
    # `git:URL@REF/SUBDIR` before the clone, `dir:PATH:<content hash>` for a local chart being edited.
    source_id: str = ""

    def digest(self) -> str:
        """What identifies the desired state; equal digests mean `helm upgrade` would be a no-op."""
        chart = self.source_id or [self.chart.chart, self.chart.repo, self.chart.version]
        blob = json.dumps(
            {"chart": chart, "values": self.values,
             "generated": self.generated, "files": [_file_digest(f) for f in self.values_files],
             "ns": self.namespace},
            sort_keys=True, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` on top of ``base``, recursively for mappings: user values win over generated ones."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _file_digest(path: str) -> str:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else f"missing:{path}"


class Helm:
    def __init__(self, access: ClusterAccess, workdir: Path, binary: str | None = None) -> None:
        self.access = access
        self.workdir = workdir
        self.binary = binary or os.environ.get("DEVCLUSTER_HELM") or "helm"

    def _base(self) -> list[str]:
        return [self.binary, *self.access.helm_args()]

    def _private_values(self, values: dict[str, Any]) -> Path:
        return write_private(self.workdir / f".values-{os.getpid()}-{os.urandom(4).hex()}.yaml",
                             yaml.safe_dump(values, sort_keys=True))

    @contextlib.contextmanager
    def _values_args(self, rel: Release) -> Iterator[list[str]]:
        """``--values`` in precedence order: generated, the user's files, the user's inline values.

        Generated and inline values go through 0600 files (they hold secrets) that are gone afterwards.
        """
        generated = self._private_values(rel.generated)
        inline = self._private_values(rel.values)
        try:
            files = [str(generated), *rel.values_files, str(inline)]
            yield [arg for f in files for arg in ("--values", f)]
        finally:
            generated.unlink(missing_ok=True)
            inline.unlink(missing_ok=True)

    def upgrade_install(self, rel: Release) -> None:
        with self._values_args(rel) as values:
            argv = self._base() + ["upgrade", "--install", rel.name, *rel.chart.args(),
                                   "--namespace", rel.namespace, "--create-namespace", *values]
            if rel.wait:
                argv += ["--wait", "--timeout", f"{rel.timeout}s"]
            runner.run(argv, timeout=rel.timeout + 120)  # the release's step says how to inspect it

    def template(self, rel: Release) -> str:
        with self._values_args(rel) as values:
            argv = [self.binary, "template", rel.name, *rel.chart.args(), "--namespace", rel.namespace, *values]
            return runner.run(argv, timeout=120).stdout

    def status(self, name: str, namespace: str) -> dict[str, Any] | None:
        res = runner.run(self._base() + ["status", name, "--namespace", namespace, "--output", "json"],
                         timeout=60, check=False)
        if res.returncode != 0:
            if "not found" in res.stderr:
                return None
            raise DevclusterError(f"helm status {name} failed: {res.stderr.strip()}", HELM_HINT)
        return json.loads(res.stdout)

    def history(self, name: str, namespace: str) -> list[dict[str, Any]]:
        res = runner.run(self._base() + ["history", name, "--namespace", namespace, "--output", "json"],
                         timeout=60, hint=HELM_HINT)
        return json.loads(res.stdout or "[]")

    def recover(self, name: str, namespace: str, status: dict[str, Any], timeout: int = 300) -> str:
        """Undo what a helm that died mid-operation left ``pending-*`` (``status`` is `helm status`'s answer), so
        the next `helm upgrade --install` can run; says what was done. Only for a caller that knows no helm is
        still running on this release. A first install never finished: uninstall it (it is installed again next);
        an upgrade or rollback: roll back to the last revision that was deployed."""
        state, revision = status["info"]["status"], int(status["version"])
        was = f"{name}: revision {revision} was left {state} by a helm that did not finish"
        earlier = [h for h in self.history(name, namespace) if int(h["revision"]) < revision]
        deployed = [int(h["revision"]) for h in earlier if h["status"] == "deployed"] or \
                   [int(h["revision"]) for h in earlier if h["status"] == "superseded"]
        if not deployed:  # a first install (pending-install of revision 1), or nothing to go back to
            self.uninstall(name, namespace, timeout)
            return f"{was}; uninstalled it to install it again"
        target = max(deployed)
        runner.run(self._base() + ["rollback", name, str(target), "--namespace", namespace],
                   timeout=timeout + 60, hint=f"helm history {name} -n {namespace}")
        return f"{was}; rolled back to revision {target}, the last one deployed, to upgrade from there"

    def uninstall(self, name: str, namespace: str, timeout: int = 300) -> bool:
        if self.status(name, namespace) is None:
            return False
        runner.run(self._base() + ["uninstall", name, "--namespace", namespace, "--wait",
                                   "--timeout", f"{timeout}s"], timeout=timeout + 60)
        return True

    def list_releases(self) -> list[dict[str, Any]]:
        res = runner.run(self._base() + ["list", "--all-namespaces", "--all", "--output", "json"], timeout=60)
        return json.loads(res.stdout or "[]")
