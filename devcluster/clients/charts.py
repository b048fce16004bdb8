"""Resolving a release's chart source to something `helm` can install.

Local paths and OCI/repo references go to helm as they are; git sources are
cloned once per ref into the state cache (a pinned ref makes the install
reproducible; a local path makes it work offline).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from devcluster.clients import runner
from devcluster.clients.helm import ChartRef
from devcluster.config import ReleaseConfig
from devcluster.errors import DevclusterError

GIT_HINT = "check the git URL/ref, or clone it yourself and set `chart:` to the local path"


def repo_basename(git_url: str) -> str:
    """`https://github.com/forail-platform/forail-helm.git` -> `forail-helm`: the folder a clone lands in."""
    name = git_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name[: -len(".git")] if name.endswith(".git") else name


def sibling_checkout(rel: ReleaseConfig, checkouts_dir: Path | None) -> Path | None:
    """The chart inside a checkout of the release's git repository beside this project
    (``<checkouts_dir>/forail-helm``, ``<checkouts_dir>/forail-operator/helm``), when there is one."""
    if checkouts_dir is None or not rel.git:
        return None
    chart = checkouts_dir / repo_basename(rel.git)
    if rel.subdir:
        chart = chart / rel.subdir
    return chart.resolve() if (chart / "Chart.yaml").is_file() else None


def tree_digest(path: Path) -> str:
    """The content of a local chart (names and bytes, .git and helm's packaged dependencies aside), so an
    edit to a template or values.yaml makes the release's step run again."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and ".git" not in p.relative_to(path).parts):
        h.update(str(file.relative_to(path)).encode() + b"\0")
        h.update(file.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def source_id(rel: ReleaseConfig, checkout: Path | None) -> str:
    """What identifies the chart a release installs, without cloning anything."""
    if checkout is not None:
        return f"dir:{checkout}:{tree_digest(checkout)}"
    if rel.git:
        return f"git:{rel.git}@{rel.ref}/{rel.subdir}"
    if rel.chart.startswith("oci://") or rel.repo:
        return f"ref:{rel.repo}|{rel.chart}|{rel.version}"
    path = Path(rel.chart).expanduser().resolve()
    return f"dir:{path}:{tree_digest(path) if path.exists() else 'missing'}"


def resolve(rel: ReleaseConfig, cache: Path, checkout: Path | None = None) -> ChartRef:
    """A chart helm can install: the sibling checkout, a local path, a repo/OCI reference, or a git clone."""
    if checkout is not None:
        return ChartRef(str(checkout))
    if rel.git:
        checkout = clone(rel.git, rel.ref, cache)
        path = checkout / rel.subdir if rel.subdir else checkout
        if not (path / "Chart.yaml").is_file():
            raise DevclusterError(f"{rel.git}@{rel.ref}: no Chart.yaml in {rel.subdir or 'the repository root'}",
                                  "set `subdir:` to the chart's directory")
        return ChartRef(str(path))
    if rel.chart.startswith("oci://") or rel.repo:
        return ChartRef(rel.chart, rel.repo, rel.version)
    path = Path(rel.chart).expanduser()
    if not (path / "Chart.yaml").is_file() and not path.suffix == ".tgz":
        raise DevclusterError(f"release {rel.name}: {rel.chart} is not a chart directory or .tgz")
    return ChartRef(str(path.resolve()), "", rel.version)


def missing_dependencies(chart_dir: Path) -> list[str]:
    """Dependencies declared in Chart.yaml without a packaged copy in charts/ (helm refuses to install then)."""
    chart_yaml = chart_dir / "Chart.yaml"
    if not chart_yaml.is_file():
        return []
    deps = (yaml.safe_load(chart_yaml.read_text()) or {}).get("dependencies") or []
    packaged = {p.name for p in (chart_dir / "charts").glob("*")} if (chart_dir / "charts").is_dir() else set()
    return [d["name"] for d in deps
            if not any(name == d["name"] or name.startswith(f"{d['name']}-") for name in packaged)]


def ensure_dependencies(chart: ChartRef, helm_binary: str) -> None:
    """`helm dependency build` for a local chart whose declared dependencies are not vendored yet."""
    path = Path(chart.chart)
    if chart.repo or chart.chart.startswith("oci://") or not path.is_dir() or not missing_dependencies(path):
        return
    runner.run([helm_binary, "dependency", "build", str(path)], timeout=600,
               hint="the chart's dependencies could not be fetched; vendor them into charts/ for offline use")


def clone(url: str, ref: str, cache: Path) -> Path:
    key = hashlib.sha256(f"{url}@{ref}".encode()).hexdigest()[:16]
    dest = cache / "charts" / key
    if (dest / ".git").is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = ["git", "clone", "--quiet", "--depth", "1"]
    if ref:
        argv += ["--branch", ref]
    tmp = dest.with_suffix(".tmp")
    runner.run(["rm", "-rf", str(tmp)], timeout=60)
    runner.run([*argv, url, str(tmp)], timeout=600, hint=GIT_HINT)
    tmp.rename(dest)
    return dest
