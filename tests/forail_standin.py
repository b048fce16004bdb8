"""A stand-in for Forail behind Traefik on the HTTP NodePort, with the JSON shapes of Forail's AWX-style API.

It answers only for the Ingress host (as Traefik routes by Host), needs a Bearer token from
``accepted_tokens`` for everything but `/api/v2/ping/`, and serves what devcluster's verify uses: job
templates by name, launch, jobs moving pending -> running -> <outcome>, a job's stdout as text, instance
groups and instances. Field names follow forail-operator's internal/forailapi client (count/results lists,
`id`, `name`) and the backend's unified-job serializer (`status`, `job_explanation`, `elapsed`).

``outcome`` picks how a launched job ends: "successful", "failed", or "pending" (it never starts: the
capacity report then shows a control node with no capacity, as on forail-helm 2026.7.x with node type
control). It may be a callable returning one of those, decided at launch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

DEMO_TEMPLATE = {"id": 7, "name": "Demo Job Template", "job_type": "run", "inventory": 1, "project": 6,
                 "playbook": "hello_world.yml"}
PENDING_EXPLANATION = "This job is not ready to start because there is not enough available capacity."


class ForailStandIn(BaseHTTPRequestHandler):
    hostname = "forail.lan"
    accepted_tokens: ClassVar[set[str]] = set()
    templates: ClassVar[list[dict[str, Any]]] = [DEMO_TEMPLATE]
    outcome: ClassVar[str | Callable[[], str]] = "successful"
    jobs: ClassVar[dict[int, dict[str, Any]]] = {}
    launches: ClassVar[list[int]] = []
    # how many reads of a job show it pending, then running, before its outcome
    steps_before_outcome = 2

    @classmethod
    def reset(cls, hostname: str = "forail.lan") -> None:
        cls.hostname = hostname
        cls.accepted_tokens = set()
        cls.templates = [dict(DEMO_TEMPLATE)]
        cls.outcome = "successful"
        cls.jobs = {}
        cls.launches = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorized(self) -> bool:
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        return token in self.accepted_tokens

    def _route(self, method: str) -> None:
        if self.headers.get("Host") != self.hostname:
            return self._send(404, b"404 page not found", "text/plain")
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        if method == "GET" and path == "/":
            return self._send(200, b"<html>forail</html>", "text/html")
        if method == "GET" and path == "/api/v2/ping/":
            return self._send(200, {"version": "2026.07.1", "ha": False})
        if not path.startswith("/api/v2/"):
            return self._send(404, b"404 page not found", "text/plain")
        if not self._authorized():
            return self._send(401, {"detail": "Authentication credentials were not provided."})
        parts = [p for p in path.removeprefix("/api/v2/").split("/") if p]
        if method == "GET" and parts == ["me"]:
            return self._send(200, {"count": 1, "results": [{"id": 1, "username": "admin"}]})
        if method == "GET" and parts == ["job_templates"]:
            found = [t for t in self.templates if "name" not in query or t["name"] == query["name"][0]]
            return self._send(200, {"count": len(found), "next": None, "previous": None, "results": found})
        if method == "POST" and len(parts) == 3 and parts[0] == "job_templates" and parts[2] == "launch":
            template = next((t for t in self.templates if str(t["id"]) == parts[1]), None)
            if template is None:
                return self._send(404, {"detail": "Not found."})
            job_id = 100 + len(self.jobs) + 1
            outcome = self.outcome() if callable(self.outcome) else self.outcome
            self.jobs[job_id] = {"id": job_id, "type": "job", "name": template["name"], "status": "pending",
                                 "job_explanation": "", "elapsed": 0.0, "reads": 0, "outcome": outcome}
            self.launches.append(job_id)
            return self._send(201, {"job": job_id, "id": job_id, "type": "job", "status": "pending",
                                    "ignored_fields": {}})
        if method == "GET" and len(parts) >= 2 and parts[0] == "jobs" and int(parts[1]) in self.jobs:
            job = self.jobs[int(parts[1])]
            if len(parts) == 3 and parts[2] == "stdout":
                text = "PLAY [Hello World Sample] ****\n\nTASK [Hello Message] ****\n"
                text += "ok: [localhost]\n" if job["outcome"] == "successful" else "fatal: [localhost]: FAILED!\n"
                return self._send(200, text.encode(), "text/plain")
            self._advance(job)
            return self._send(200, {k: v for k, v in job.items() if k not in ("reads", "outcome")})
        if method == "GET" and parts == ["instance_groups"]:
            return self._send(200, {"count": 2, "results": [
                {"id": 1, "name": "controlplane", "capacity": 0, "is_container_group": False, "instances": 1},
                {"id": 2, "name": "default", "capacity": 0, "is_container_group": False, "instances": 0}]})
        if method == "GET" and parts == ["instances"]:
            return self._send(200, {"count": 1, "results": [
                {"id": 1, "hostname": "forail-node", "node_type": "control", "node_state": "ready",
                 "capacity": 0, "enabled": True, "errors": ""}]})
        return self._send(404, {"detail": "Not found."})

    def _advance(self, job: dict[str, Any]) -> None:
        job["reads"] += 1
        if job["outcome"] == "pending":
            job["job_explanation"] = PENDING_EXPLANATION
            return
        if job["reads"] >= self.steps_before_outcome:
            job["status"], job["elapsed"] = job["outcome"], 1.5
        else:
            job["status"] = "running"

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")


def start_standin(handler: type[ForailStandIn] = ForailStandIn) -> ThreadingHTTPServer:
    """On a free port of loopback in the NodePort range (the config's node_ports.http points at it)."""
    for port in range(31900, 32700):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    raise RuntimeError("no free NodePort-range port on loopback")
