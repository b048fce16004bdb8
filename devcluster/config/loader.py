"""Reading devcluster.yaml into the schema: every value checked before anything runs.

The loader walks the typed dataclasses so that a wrong key or value is reported with its full dotted
path (``kind.workers: expected an integer``), and unknown keys are errors rather than silently ignored
typos. Loading is parse -> fill derived defaults -> validate; validation only reads.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from devcluster.config import versions
from devcluster.config.layout import vagrant_counts
from devcluster.config.registry import validate_registry
from devcluster.config.schema import CONFIG_FILENAME, Config
from devcluster.errors import ConfigError

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# helm's rule for release names (pkg/chartutil ValidateReleaseName): a DNS-1123 subdomain, at most 53 chars.
_RELEASE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RELEASE_NAME_MAX = 53


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, path + ".")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        return [_convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, members[0], path) if len(members) == 1 else value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, float):
            return f"{value:.2f}"  # `kubernetes_version: 1.30` reaches us as the float 1.3
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {type(value).__name__}")
        return value
    return value


def _build(cls: Any, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            close = ", ".join(sorted(known))
            raise ConfigError(f"{prefix}{key}: unknown key", f"known keys here: {close}")
        if value is None:
            continue
        kwargs[key] = _convert(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_hostname(name: str) -> bool:
    """A DNS name, and not an address: `10.0.0.1` passes the label rule but is no name for an ingress."""
    if not name or len(name) > 253 or name.endswith(".") or is_ip_address(name):
        return False
    if name.rsplit(".", 1)[-1].isdigit():
        return False
    return all(_HOST_LABEL_RE.match(label) for label in name.lower().split("."))


LOCAL_NAME_WARNING = (
    "{host} ends in .local: mDNS resolvers (macOS, and most Linux desktops through nss-mdns or "
    "systemd-resolved) answer .local names themselves before /etc/hosts is read, so on many laptops {host} "
    "will not reach the cluster even when its hosts entry is right. Use a .lan name instead "
    "(the default forail.lan)."
)


def local_name_warning(hostname: str) -> str | None:
    """The one warning about a .local name (the config's hostname, `hosts add --hostname`), said on every
    machine: a teammate's laptop may ask mDNS first even where this one does not."""
    name = hostname.lower().rstrip(".")
    if name == "local" or name.endswith(".local"):
        return LOCAL_NAME_WARNING.format(host=hostname)
    return None


def warnings(cfg: Config) -> list[str]:
    """Valid but risky settings: said on every laptop, not only where this machine's resolver shows the trap."""
    out = []
    local = local_name_warning(cfg.hostname)
    if local is not None:
        out.append(local)
    if cfg.provider == "kind" and is_ip_address(cfg.kind.listen_address) and \
            ipaddress.ip_address(cfg.kind.listen_address).is_unspecified:
        out.append(f"kind.listen_address {cfg.kind.listen_address} exposes the NodePorts "
                   f"{cfg.node_ports.http}/{cfg.node_ports.https} to the network, not only to this machine; "
                   "the default 127.0.0.1 keeps the cluster private")
    return out


def _validate(cfg: Config) -> None:
    def fail(key: str, msg: str, hint: str | None = None) -> None:
        raise ConfigError(f"{key}: {msg}", hint)

    if not _NAME_RE.match(cfg.name):
        fail("name", f"{cfg.name!r} is not a valid cluster name", "lowercase letters, digits and '-', max 40")
    if is_ip_address(cfg.hostname):
        fail("hostname", f"{cfg.hostname!r} is an IP address, not a hostname",
             "give the name the platform is served under (default forail.lan); the address comes from the provider")
    if not valid_hostname(cfg.hostname):
        fail("hostname", f"{cfg.hostname!r} is not a valid hostname")
    for key, port in (("node_ports.http", cfg.node_ports.http), ("node_ports.https", cfg.node_ports.https)):
        if not 30000 <= port <= 32767:
            fail(key, f"{port} is outside the NodePort range 30000-32767")
    if cfg.node_ports.http == cfg.node_ports.https:
        fail("node_ports.https", "must differ from node_ports.http")
    if not 0 <= cfg.kind.workers <= 10:
        fail("kind.workers", f"{cfg.kind.workers} is outside 0-10")
    if "@sha256:" not in cfg.kind.node_image:
        fail("kind.node_image", "must be pinned by tag and digest (name:tag@sha256:...)")
    for key, value in (("kind.listen_address", cfg.kind.listen_address),
                       ("existing.ingress_ip", cfg.existing.ingress_ip)):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            fail(key, f"{value!r} is not an IP address")
    v = cfg.vagrant
    control_planes, workers = vagrant_counts(v)
    if not 1 <= control_planes <= 3:
        fail("vagrant.control_planes", f"{control_planes} is outside 1-3",
             "2 stacked-etcd control planes tolerate no failure; use 3 for real HA")
    if not 0 <= workers <= 9:
        fail("vagrant.workers", f"{workers} is outside 0-9")
    if not 1 <= v.retries <= 10:
        fail("vagrant.retries", f"{v.retries} is outside 1-10")
    if v.boot_timeout < 30:
        fail("vagrant.boot_timeout", "a healthy VM needs ~40 s to reach SSH: give at least 30 s")
    if v.control_plane_memory < 2048:
        fail("vagrant.control_plane_memory", "kubeadm needs at least 2048 MiB on a control plane")
    if v.worker_memory < 1024:
        fail("vagrant.worker_memory", "a worker needs at least 1024 MiB")
    if v.control_plane_cpus < 2:
        fail("vagrant.control_plane_cpus", "kubeadm needs at least 2 CPUs on a control plane")
    if v.worker_cpus < 1:
        fail("vagrant.worker_cpus", "must be at least 1")
    try:
        net = ipaddress.ip_network(v.network_prefix + ".0/24")
    except ValueError:
        fail("vagrant.network_prefix", f"{v.network_prefix!r} is not the first three octets of an IPv4 /24")
    else:
        if not net.is_private:
            fail("vagrant.network_prefix", f"{net} is not a private range")
        if v.ingress_ip:
            try:
                ip = ipaddress.ip_address(v.ingress_ip)
            except ValueError:
                fail("vagrant.ingress_ip", f"{v.ingress_ip!r} is not an IP address")
            else:
                if ip not in net:
                    fail("vagrant.ingress_ip", f"{ip} is not in {net}")
    if not v.box_version:
        fail("vagrant.box_version", "the box must be pinned to a version")
    if cfg.pull_secret.name and not cfg.pull_secret.server:
        fail("pull_secret.server", "is required when pull_secret.name is set")
    _validate_timeouts(cfg, fail)
    validate_registry(cfg.registry, fail)
    _validate_hosts_file(cfg, fail)
    names = [r.name for r in cfg.stack.releases]
    for i, rel in enumerate(cfg.stack.releases):
        if not rel.name:
            fail(f"stack.releases[{i}].name", "is required")
        if len(rel.name) > RELEASE_NAME_MAX or not _RELEASE_NAME_RE.match(rel.name):
            fail(f"stack.releases[{i}].name", f"{rel.name!r} is not a valid helm release name",
                 f"lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, "
                 f"at most {RELEASE_NAME_MAX} characters")
        if not (rel.chart or rel.git):
            fail(f"stack.releases[{i}].chart", "one of chart or git is required")
        if rel.chart and rel.git:
            fail(f"stack.releases[{i}].git", "give either chart or git, not both")
        for j, action in enumerate(rel.post_install):
            key = f"stack.releases[{i}].post_install[{j}]"
            if not _NAME_RE.match(action.name):
                fail(f"{key}.name", f"{action.name!r} must be a short lowercase name")
            if not action.deployment or not action.command:
                fail(key, "deployment and command are required")
        _validate_release_files(rel, f"stack.releases[{i}]", fail)
    if len(set(names)) != len(names):
        fail("stack.releases", "release names must be unique")


def _validate_timeouts(cfg: Config, fail: Any) -> None:
    """A zero or negative timeout would fail every wait at once (or never time out, for some tools)."""
    timeouts = [("kind.create_timeout", cfg.kind.create_timeout), ("vagrant.up_timeout", cfg.vagrant.up_timeout),
                ("stack.verify_timeout", cfg.stack.verify_timeout)]
    timeouts += [(f"timeouts.{f.name}", getattr(cfg.timeouts, f.name)) for f in dataclasses.fields(cfg.timeouts)]
    for i, rel in enumerate(cfg.stack.releases):
        timeouts.append((f"stack.releases[{i}].timeout", rel.timeout))
        timeouts += [(f"stack.releases[{i}].post_install[{j}].timeout", a.timeout)
                     for j, a in enumerate(rel.post_install)]
    for key, seconds in timeouts:
        if seconds <= 0:
            fail(key, f"{seconds} is not a timeout", "give the seconds to wait, more than 0")


def _validate_hosts_file(cfg: Config, fail: Any) -> None:
    if cfg.hosts.manage and Path(cfg.hosts.file).expanduser().is_dir():
        fail("hosts.file", f"{cfg.hosts.file} is a directory", "name the hosts file itself, e.g. /etc/hosts")


def _validate_release_files(rel: Any, key: str, fail: Any) -> None:
    """Files a release reads, checked now rather than by helm half-way through `up`."""
    for j, name in enumerate(rel.values_files):
        path = Path(name).expanduser()
        if not path.is_file():
            fail(f"{key}.values_files[{j}]", f"{name} " + ("is not a file" if path.exists() else "does not exist"),
                 f"paths are relative to the current directory ({Path.cwd()})")
    if rel.chart and not rel.git and not rel.repo and not rel.chart.startswith("oci://"):
        path = Path(rel.chart).expanduser()
        if not ((path / "Chart.yaml").is_file() or (path.suffix == ".tgz" and path.is_file())):
            what = "is not a chart directory (no Chart.yaml) or .tgz" if path.exists() else "does not exist"
            fail(f"{key}.chart", f"{rel.chart} {what}",
                 "a local chart path (relative to the current directory), or set `repo:` for a chart in a "
                 "helm repository, or use oci://")


class _DuplicateKeyChecker:
    """YAML lets the last of two equal keys win silently; a config that says `workers` twice is a mistake."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def check(self, node: yaml.Node, path: str = "") -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                dotted = f"{path}.{key}" if path else key
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConfigError(f"{dotted}: duplicate key at {self.source}:{line} (first at line {seen[key]})",
                                      "YAML keeps only the last one; remove one of them")
                seen[key] = line
                self.check(value_node, dotted)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.check(item, f"{path}[{i}]")


def _read_yaml(p: Path) -> Any:
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.object[exc.start]:#04x} on line {line})",
                          "save the file as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from exc
    # One parse: the composed node is checked for duplicate keys, then built into Python values.
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _DuplicateKeyChecker(p).check(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def load(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (or ./devcluster.yaml when present), apply CLI overrides, validate."""
    data: dict[str, Any] = {}
    source = ""
    if path is None and Path(CONFIG_FILENAME).is_file():
        path = CONFIG_FILENAME
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"config file {p} is a directory",
                              f"pass the file itself, e.g. --config {p / CONFIG_FILENAME}")
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        if not p.is_file():
            raise ConfigError(f"config file {p} is not a regular file",
                              "pass a YAML file, e.g. --config devcluster.yaml")
        loaded = _read_yaml(p) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
        data = loaded
        source = str(p)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        target = data
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    cfg = _build(Config, data)
    cfg.source = source
    versions.apply_defaults(cfg, data)
    _fill_defaults(cfg)
    _validate(cfg)
    return cfg


def _fill_defaults(cfg: Config) -> None:
    """Defaults that depend on other keys: a release without a namespace goes into the cluster's."""
    for rel in cfg.stack.releases:
        rel.namespace = rel.namespace or cfg.namespace


def to_dict(cfg: Config) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    out.pop("source", None)
    return out
