"""Forail's REST API (AWX-style `/api/v2/`, a Bearer token), reached through the ingress.

The paths and the auth are the ones forail-operator's internal/forailapi client uses; jobs, their stdout and
the instance groups are the backend's unified-job endpoints. Only what verify needs: find a job template,
launch it, read a job, its stdout, and the capacity Forail sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from devcluster.clients.http import http_request
from devcluster.errors import DevclusterError

# A job in one of these will not change any more.
FINISHED = ("successful", "failed", "error", "canceled")


@dataclass
class ForailApi:
    address: str
    port: int
    host_header: str
    token: str
    timeout: float = 15

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        try:
            code, raw = http_request(self.address, self.port, method, path, self.host_header, self.timeout,
                                     self.token, body)
        except OSError as exc:
            raise DevclusterError(f"Forail's API at http://{self.host_header}:{self.port}{path} did not answer: "
                                  f"{exc}", "devcluster status; is the ingress up?") from exc
        if code in (401, 403):
            raise DevclusterError(f"Forail rejected the token ({method} {path}: HTTP {code})",
                                  "the stored operator token is no longer valid: devcluster up --from operator-token")
        return code, raw

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        code, raw = self._call(method, path, body)
        if code not in (200, 201, 202):
            raise DevclusterError(f"Forail answered HTTP {code} to {method} {path}: {raw[:300]!r}")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise DevclusterError(f"Forail answered {method} {path} with something that is not JSON: "
                                  f"{raw[:120]!r}") from exc

    def results(self, path: str) -> list[dict[str, Any]]:
        """The `results` of a list endpoint (its first page: verify asks for one name or a handful of rows)."""
        data = self.json("GET", path)
        return list(data.get("results") or []) if isinstance(data, dict) else []

    def job_template(self, name: str) -> dict[str, Any] | None:
        found = self.results(f"/api/v2/job_templates/?name={quote(name)}")
        return next((t for t in found if t.get("name") == name), None)

    def launch(self, template_id: int) -> int:
        data = self.json("POST", f"/api/v2/job_templates/{template_id}/launch/", {})
        job = data.get("job") or data.get("id") if isinstance(data, dict) else None
        if not job:
            raise DevclusterError(f"launching job template {template_id} returned no job id: {data!r:.200}")
        return int(job)

    def job(self, job_id: int) -> dict[str, Any]:
        data = self.json("GET", f"/api/v2/jobs/{job_id}/")
        return data if isinstance(data, dict) else {}

    def stdout_tail(self, job_id: int, lines: int = 25) -> str:
        code, raw = self._call("GET", f"/api/v2/jobs/{job_id}/stdout/?format=txt")
        if code != 200:
            return f"(stdout not available: HTTP {code})"
        return "\n".join(raw.decode(errors="replace").rstrip().splitlines()[-lines:])

    def capacity_report(self) -> str:
        """Instance groups and instances as Forail sees them: why a job would stay pending."""
        rows = []
        for group in self.results("/api/v2/instance_groups/"):
            rows.append(f"instance group {group.get('name')!r}: capacity {group.get('capacity')}, "
                        f"container group {group.get('is_container_group')}, instances {group.get('instances')}")
        for inst in self.results("/api/v2/instances/"):
            errors = f", errors: {inst['errors']}" if inst.get("errors") else ""
            rows.append(f"instance {inst.get('hostname')!r}: node_type {inst.get('node_type')}, "
                        f"node_state {inst.get('node_state')}, capacity {inst.get('capacity')}, "
                        f"enabled {inst.get('enabled')}{errors}")
        return "\n".join(rows) or "no instance groups or instances reported"
