"""Resolving a release's chart source to something `helm` can install.

Local paths and OCI/repo references go to helm as they are; git sources are
cloned once per ref into the state cache (a pinned ref makes the install
reproducible; a local path makes it work offline).
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Callable
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


def upstream_name(rel: ReleaseConfig) -> str:
    """The repository a release's chart comes from, as a folder name: its git repository, or the last part of
    its OCI reference (`oci://ghcr.io/forail-platform/forail-helm` -> `forail-helm`); empty for a local chart."""
    if rel.git:
        return repo_basename(rel.git)
    if rel.chart.startswith("oci://"):
        return rel.chart.rstrip("/").rsplit("/", 1)[-1]
    return ""


def sibling_checkout(rel: ReleaseConfig, checkouts_dir: Path | None) -> Path | None:
    """The chart inside a checkout of the release's repository beside this project
    (``<checkouts_dir>/forail-helm``, ``<checkouts_dir>/forail-operator/helm``), when there is one."""
    name = upstream_name(rel)
    if checkouts_dir is None or not name:
        return None
    chart = checkouts_dir / name
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


def parse_calver(text: str) -> tuple[int, ...] | None:
    """`2026.7.1`, `v2026.07.1`, `2026.10.0-rc1` -> (2026, 7, 1) ...; None for anything that is not one."""
    match = re.match(r"^v?(\d{4})\.(\d{1,2})(?:\.(\d+))?", text.strip())
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def chart_yaml_version(path: Path) -> str:
    """The `version:` of a chart directory or packaged .tgz; empty when it cannot be read."""
    try:
        if path.is_dir():
            text = (path / "Chart.yaml").read_text()
        else:
            with tarfile.open(path) as tar:
                member = next(m for m in tar.getmembers() if m.name.count("/") == 1
                              and m.name.endswith("/Chart.yaml"))
                extracted = tar.extractfile(member)
                text = extracted.read().decode() if extracted else ""
    except (OSError, StopIteration, tarfile.TarError, UnicodeDecodeError):
        return ""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return ""
    return str(data.get("version", "")) if isinstance(data, dict) else ""


def chart_version(rel: ReleaseConfig, checkout: Path | None) -> tuple[str, str]:
    """The version of the chart a release will install and where that was read, without cloning or pulling:
    a checkout's or local chart's Chart.yaml, else the pinned `version`, else a CalVer git ref."""
    if checkout is not None:
        return chart_yaml_version(checkout), f"{checkout}/Chart.yaml"
    if rel.chart and not rel.chart.startswith("oci://") and not rel.repo:
        path = Path(rel.chart).expanduser()
        return chart_yaml_version(path), f"{path}" + ("/Chart.yaml" if path.is_dir() else "")
    if rel.version:
        return rel.version, "the OCI pin" if rel.chart.startswith("oci://") else \
            ("the git pin" if rel.git else "the repository pin")
    if rel.git and parse_calver(rel.ref):
        return rel.ref.lstrip("v"), "the git ref"
    return "", "nothing (no version pinned)"


def resolve(rel: ReleaseConfig, cache: Path, checkout: Path | None = None,
            say: Callable[[str], None] = lambda line: None) -> ChartRef:
    """A chart helm can install: the sibling checkout, a local path, a repo/OCI reference, or a git clone."""
    if checkout is not None:
        return ChartRef(str(checkout))
    if rel.git:
        checkout = clone(rel.git, rel.ref, cache, chart_path=rel.subdir, version=rel.version, say=say)
        path = checkout / rel.subdir if rel.subdir else checkout
        if not (path / "Chart.yaml").is_file():
            raise DevclusterError(f"{rel.git}@{rel.ref}: no Chart.yaml in {rel.subdir or 'the repository root'}",
                                  "set `subdir:` to the chart's directory")
        found = chart_yaml_version(path)
        if rel.version and found != rel.version:
            raise DevclusterError(f"{rel.git}@{rel.ref}: {rel.subdir or '.'}/Chart.yaml has version {found!r}, "
                                  f"not the pinned {rel.version!r}",
                                  "fix the release's `ref:` or `version:` (empty `version:` skips this check)")
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


def _git(args: list[str], cwd: Path | None = None, timeout: int = 600) -> str:
    return runner.run(["git", *(["-C", str(cwd)] if cwd else []), *args], timeout=timeout, hint=GIT_HINT).stdout


def remote_has_ref(url: str, ref: str) -> bool:
    """Whether ``ref`` names a tag or branch of the remote (one `git ls-remote`, nothing downloaded)."""
    out = _git(["ls-remote", "--tags", "--heads", url, ref], timeout=120)
    return any(line.split("\t", 1)[-1] in (f"refs/tags/{ref}", f"refs/heads/{ref}") for line in out.splitlines())


def commit_setting_version(repo: Path, chart_path: str, version: str) -> str:
    """The oldest commit whose Chart.yaml says ``version``: the commit that made the release, since later
    commits at the same version are work towards the next one."""
    chart_yaml = f"{chart_path.strip('/')}/Chart.yaml" if chart_path else "Chart.yaml"
    for commit in reversed(_git(["log", "--format=%H", "--", chart_yaml], cwd=repo).split()):
        shown = runner.run(["git", "-C", str(repo), "show", f"{commit}:{chart_yaml}"], timeout=60, check=False)
        try:
            data = yaml.safe_load(shown.stdout) if shown.returncode == 0 else None
        except yaml.YAMLError:
            data = None
        if isinstance(data, dict) and str(data.get("version", "")) == version:
            return commit
    return ""


def clone(url: str, ref: str, cache: Path, chart_path: str = "", version: str = "",
          say: Callable[[str], None] = lambda line: None) -> Path:
    """A checkout of ``url`` at ``ref`` in the cache, made once: a tag or branch (shallow), a commit id, or,
    when the repository has no such tag and ``version`` is given, the commit that set ``chart_path``'s
    Chart.yaml to that version (told to ``say``; the checkout's HEAD records which commit it is)."""
    key = hashlib.sha256(f"{url}@{ref}#{version}".encode()).hexdigest()[:16]
    dest = cache / "charts" / key
    if (dest / ".git").is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    runner.run(["rm", "-rf", str(tmp)], timeout=60)
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        _git(["init", "--quiet", str(tmp)])
        _git(["fetch", "--quiet", "--depth", "1", url, ref], cwd=tmp)
        _git(["checkout", "--quiet", "FETCH_HEAD"], cwd=tmp)
    elif not ref or not version or remote_has_ref(url, ref):
        _git(["clone", "--quiet", "--depth", "1", *(["--branch", ref] if ref else []), url, str(tmp)])
    else:
        _git(["clone", "--quiet", url, str(tmp)])
        commit = commit_setting_version(tmp, chart_path, version)
        if not commit:
            raise DevclusterError(f"{url}: no tag {ref!r} and no commit whose {chart_path or '.'}/Chart.yaml "
                                  f"has version {version!r}", GIT_HINT)
        _git(["checkout", "--quiet", commit], cwd=tmp)
        say(f"{url}: no tag {ref}; using commit {commit}, which set the chart's version to {version}")
    tmp.rename(dest)
    return dest
