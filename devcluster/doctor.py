"""`devcluster doctor`: are the tools for this provider here, and is the host set up right?"""

from __future__ import annotations

from dataclasses import dataclass

from devcluster import runner
from devcluster.config import Config
from devcluster.errors import DevclusterError
from devcluster.hosts import MDNS_WARNING, mdns_hijacks
from devcluster.providers.base import Provider, Tool


@dataclass
class Finding:
    what: str
    ok: bool
    detail: str
    fix: str = ""


def check_tools(tools: list[Tool]) -> list[Finding]:
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
        else:
            findings.append(Finding(tool.name, True, detail))
    return findings


def check_host(cfg: Config) -> list[Finding]:
    findings = []
    if mdns_hijacks(cfg.hostname):
        findings.append(Finding("hostname", False, MDNS_WARNING.format(host=cfg.hostname),
                                "set hostname: forail.lan in devcluster.yaml"))
    else:
        findings.append(Finding("hostname", True, f"{cfg.hostname} resolves through /etc/hosts"))
    return findings


def run_doctor(cfg: Config, provider: Provider) -> list[Finding]:
    tools = provider.tools()
    if cfg.stack.enabled and any(r.git for r in cfg.stack.releases):
        tools.append(Tool("git", ("--version",), "install git: the stack's charts are cloned from git"))
    findings = check_tools(tools) + check_host(cfg)
    extra = getattr(provider, "doctor_checks", None)
    if extra is not None:
        findings += extra()
    return findings
