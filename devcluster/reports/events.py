"""`--output json`: each step event as one JSON object per line (JSON Lines), for CI and wrappers.

Only stdout carries events, so `devcluster up --output json | jq` sees nothing but JSON; the human
progress goes to stderr. Each line stands alone: a reader that stops early still has valid lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from devcluster.engine.events import StepEvent


class JsonLines:
    """An observer for execute(): writes each event as soon as it happens (no buffering until the end)."""

    def __init__(self, write: Callable[[str], None], command: str, cluster: str) -> None:
        self.write = write
        self.command = command
        self.cluster = cluster

    def __call__(self, event: StepEvent) -> None:
        record: dict[str, object] = {
            "command": self.command, "cluster": self.cluster, "step": event.step, "status": event.status,
            "seconds": round(event.seconds, 3), "detail": event.detail,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if event.status == "failure":
            record["resume"] = event.resume
        self.write(json.dumps(record, sort_keys=False))
