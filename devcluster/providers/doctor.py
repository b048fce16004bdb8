"""What `devcluster doctor` asks of a provider: the tools it needs and the findings of its host checks.

Plain values, so a provider can describe them and reports/doctor.py can run and print them, with neither
knowing the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Tool:
    """A command a provider needs, how to ask its version, and how to get it."""

    name: str
    version_args: tuple[str, ...]
    fix: str


# Every provider installs charts and talks to the API the same way.
HELM_TOOL = Tool("helm", ("version", "--short"),
                 "bash scripts/install-tools.sh (pinned helm v3.17.3), or https://helm.sh/docs/intro/install/")
KUBECTL_TOOL = Tool("kubectl", ("version", "--client"),
                    "bash scripts/install-tools.sh (pinned kubectl v1.30.14), or https://kubernetes.io/docs/tasks/tools/")


@dataclass
class Finding:
    """One line of `devcluster doctor`: what was checked, whether it is fine, and the fix."""

    what: str
    ok: bool
    detail: str
    fix: str = ""
    # "warn": works, but outside what is tested or supported; doctor still exits 0.
    warning: bool = False

    @property
    def level(self) -> Literal["ok", "warn", "fail"]:
        if not self.ok:
            return "fail"
        return "warn" if self.warning else "ok"
