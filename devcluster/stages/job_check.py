"""Does Forail run a job: launch the demo job template through the ingress and wait for `successful`.

An install can answer `/api/v2/ping/` and still run nothing: on forail-helm 2026.7.x a `control` node leaves
every job pending. So verify launches one. It is a step of its own with a cheap check: a re-run on a verified
cluster launches nothing; after any release changed (its digest or revision), it launches again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from devcluster.clients.forail_api import FINISHED, ForailApi
from devcluster.config import Config
from devcluster.engine.steps import Context, Step
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError
from devcluster.local import secrets as secrets_store
from devcluster.stages import releases

JOB_FILE = "verify-job.json"


def fingerprint(ctx: Context) -> str:
    """What the stack is made of now: every release's recorded input digest and revision."""
    records = ctx.state.read_json(releases.RELEASES_FILE)
    current = {r.name: [(records.get(r.name) or {}).get(k) for k in ("digest", "revision")]
               for r in ctx.config.stack.releases}
    return hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]


def job_verified(ctx: Context) -> bool:
    record = ctx.state.read_json(JOB_FILE)
    return record.get("status") == "successful" and record.get("fingerprint") == fingerprint(ctx)


def forget(ctx: Context) -> None:
    """`verify --job`: the next verify launches a job again."""
    ctx.state.write_json(JOB_FILE, {})


def api_for(ctx: Context) -> ForailApi:
    cfg = ctx.config
    token = secrets_store.stored_token(ctx.state, cfg.stack.token_env)
    if not token:
        raise DevclusterError("no token for Forail's API yet",
                              f"devcluster up --from operator-token (or set ${cfg.stack.token_env})")
    return ForailApi(ctx.provider.ingress_address(), cfg.node_ports.http, cfg.hostname, token)


def run_job(ctx: Context, execution_hint: str) -> None:
    cfg = ctx.config
    api = api_for(ctx)
    name = cfg.stack.verify_job_template
    template = api.job_template(name)
    if template is None:
        raise DevclusterError(f"Forail has no job template named {name!r}",
                              "Forail's init makes 'Demo Job Template' with its preload data when no Organization "
                              "exists yet; set stack.verify_job_template to one of yours, or to \"\" to launch none")
    job_id = api.launch(int(template["id"]))
    ctx.console.print(f"  launched job {job_id} from {name!r}")
    last: dict[str, Any] = {}

    def finished() -> tuple[bool, str]:
        last.clear()
        last.update(api.job(job_id))
        status = last.get("status", "unknown")
        return status in FINISHED, f"job {job_id}: {status}"

    try:
        wait_for(f"job {job_id} ({name}) to finish", finished, timeout=cfg.stack.verify_timeout,
                 console=ctx.console)
    except DevclusterError as exc:
        status = last.get("status", "unknown")
        if status in FINISHED:
            raise
        explanation = last.get("job_explanation") or ""
        raise DevclusterError(
            f"job {job_id} ({name}) is still {status} after {cfg.stack.verify_timeout}s"
            + (f": {explanation}" if explanation else "") + "\n" + api.capacity_report(),
            f"a job that stays pending has no instance that can run it; {execution_hint}") from exc
    status = last.get("status")
    if status != "successful":
        raise DevclusterError(f"job {job_id} ({name}) ended {status}:\n{api.stdout_tail(job_id)}",
                              f"the whole output: GET /api/v2/jobs/{job_id}/stdout/?format=txt")
    ctx.state.write_json(JOB_FILE, {"fingerprint": fingerprint(ctx), "job": job_id, "status": status,
                                    "template": name, "elapsed": last.get("elapsed")})
    ctx.console.print(f"  job {job_id} successful" + (f" in {last['elapsed']}s" if last.get("elapsed") else ""))


def job_step(cfg: Config, execution_hint: str) -> Step:
    return Step("verify-job", f"launch {cfg.stack.verify_job_template!r} through the ingress (Forail's API, the "
                f"operator token) and wait for `successful`; once per set of releases",
                lambda ctx: run_job(ctx, execution_hint), job_verified)
