"""`devcluster doctor`: are the tools for this provider here, and is the host set up right?"""

from __future__ import annotations

import re

from devcluster.clients import runner
from devcluster.config import Config, warnings
from devcluster.config.versions import DEFAULT_VERSION, lookup
from devcluster.errors import DevclusterError
from devcluster.providers.base import Provider
from devcluster.providers.doctor import Finding, Tool

INSTALL_TOOLS = "scripts/install-tools.sh installs the pinned kind, kubectl and helm into ~/.local/bin"


def version_skew(tool: str, version_text: str, kubernetes_version: str = DEFAULT_VERSION) -> Finding | None:
    """A warning when kubectl/helm is outside the versions that support the chosen Kubernetes minor
    (Kubernetes' skew policy for kubectl, helm.sh/docs/topics/version_skew for helm: config/versions.py)."""
    bounds = lookup(kubernetes_version).supported_minors(tool)
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", version_text)
    if bounds is None or m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    expected_major = 1 if tool == "kubectl" else 3
    if major == expected_major and bounds[0] <= minor <= bounds[1]:
        return None
    wanted = f"{expected_major}.{bounds[0]}-{expected_major}.{bounds[1]}"
    return Finding(f"{tool} version", True, f"{tool} {m.group(0)} is outside {wanted}, the versions supported "
                   f"with a Kubernetes {kubernetes_version} cluster", INSTALL_TOOLS, warning=True)


def check_tools(tools: list[Tool], kubernetes_version: str = DEFAULT_VERSION) -> list[Finding]:
    findings = []
    for tool in tools:
        path = runner.which(tool.name)
        if path is None:
            findings.append(Finding(tool.name, False, "not found on PATH", tool.fix))
            continue
        try:
            res = runner.run([path, *tool.version_args], timeout=30, check=False)
        except DevclusterError as exc:
            findings.append(Finding(tool.name, False, exc.message, tool.fix))
            continue
        first = (res.stdout.strip() or res.stderr.strip()).splitlines()[:1]
        detail = first[0] if first else ""
        if res.returncode != 0:
            findings.append(Finding(tool.name, False, f"`{tool.name}` failed: {detail}", tool.fix))
            continue
        findings.append(Finding(tool.name, True, detail))
        skew = version_skew(tool.name, detail, kubernetes_version)
        if skew is not None:
            findings.append(skew)
    return findings


def check_host(cfg: Config, ingress_ip: str) -> list[Finding]:
    """What the hostname really resolves to here, and the risky settings every laptop would hit."""
    from devcluster.local import hosts

    findings = [Finding("hostname", True, warning, "use a .lan name, e.g. hostname: forail.lan", warning=True)
                for warning in warnings(cfg)]
    addresses = hosts.resolve(cfg.hostname)
    if not addresses:
        findings.append(Finding("hostname", True, f"{cfg.hostname} does not resolve on this machine yet",
                                "`devcluster up` (or `devcluster hosts add`) writes it into /etc/hosts",
                                warning=True))
    elif ingress_ip not in addresses:
        findings.append(Finding("hostname", False, f"{cfg.hostname} resolves to {', '.join(addresses)}, not to "
                                f"the cluster's ingress {ingress_ip}",
                                f"look for another line for {cfg.hostname} in {cfg.hosts.file} "
                                "(`devcluster hosts add --force` comments it out), or DNS overriding it"))
    else:
        findings.append(Finding("hostname", True, f"{cfg.hostname} resolves to {ingress_ip}"))
    return findings


def run_doctor(cfg: Config, provider: Provider) -> list[Finding]:
    tools = provider.tools()
    if cfg.stack.enabled and any(r.git for r in cfg.stack.releases):
        tools.append(Tool("git", ("--version",), "install git: the stack's charts are cloned from git"))
    return (check_tools(tools, cfg.kubernetes_version) + check_host(cfg, provider.ingress_address())
            + provider.doctor_checks())
