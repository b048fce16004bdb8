"""The values devcluster derives for forail-helm and forail-operator from the cluster config.

Pure functions of the config (and the generated secrets / token), so they are tested against what
the real helm renders. The keys follow the published charts: forail-helm 2026.x (`forail.allowedHosts`
and `forail.csrfTrustedOrigins` as comma-separated strings, `forail.node.type`, `task.*`, `ingress.*`,
`images.*`, `secrets.*`) and forail-operator v2026.06.0 (`forail.url`, `forail.token`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devcluster.clients.charts import parse_calver
from devcluster.clients.registry import local_reference
from devcluster.config import CONTROL_JOBS_SINCE, Config

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# forail-helm's images.*.repository defaults (values.yaml): where a local build is tagged to replace them.
DEFAULT_REPOSITORIES = {"backend": "ghcr.io/forail-platform/forail-backend",
                        "frontend": "ghcr.io/forail-platform/forail-frontend"}
PODMAN_WARNING = (
    "Forail's jobs run through podman inside a privileged task pod "
    "(task.privileged and task.hostCgroup): a privileged pod can take over its node. Dev clusters only."
)


def split_hosts(value: Any) -> list[str]:
    """`a,b` or [a, b] -> [a, b]: users may give the chart's comma string or a YAML list."""
    if isinstance(value, str):
        return [h.strip() for h in value.split(",") if h.strip()]
    if isinstance(value, list):
        return [str(h).strip() for h in value if str(h).strip()]
    return []


def allowed_hosts(cfg: Config, user_hosts: list[str] | None = None) -> str:
    """The ingress host and loopback (the chart's probes call 127.0.0.1: without it Django answers 400 and
    the pod never gets ready), then whatever the user added, each once."""
    hosts = [cfg.hostname, *LOOPBACK_HOSTS, *(user_hosts or [])]
    return ",".join(dict.fromkeys(hosts))


def csrf_trusted_origins(cfg: Config) -> str:
    """The origins a browser sends for this hostname and these NodePorts, and the plain https one."""
    host = cfg.hostname
    return ",".join([f"http://{host}:{cfg.node_ports.http}", f"https://{host}:{cfg.node_ports.https}",
                     f"https://{host}"])


@dataclass(frozen=True)
class JobExecution:
    """How the installed Forail will run jobs, and why: `plan`, `config` and the install all say it."""

    podman: bool
    reason: str

    @property
    def label(self) -> str:
        return "podman in a privileged task pod (hybrid; dev only)" if self.podman else "pods (control)"


def job_execution(cfg: Config, chart_version: str, read_from: str) -> JobExecution:
    """`stack.job_execution`, or for `auto` the one the chart's version runs jobs with: forail-helm before
    2026.10 runs them only as hybrid with a privileged task pod, 2026.10 and later as control. A version that
    cannot be read gets hybrid, which runs jobs on every release."""
    chosen = cfg.stack.job_execution
    if chosen != "auto":
        return JobExecution(chosen == "podman", f"stack.job_execution: {chosen}")
    parsed = parse_calver(chart_version) if chart_version else None
    since = ".".join(map(str, CONTROL_JOBS_SINCE))
    if parsed is None:
        return JobExecution(True, f"chart version unknown (read from {read_from}): hybrid runs jobs on every "
                                  f"release, control only from {since}")
    if parsed[:2] >= CONTROL_JOBS_SINCE:
        return JobExecution(False, f"chart {chart_version} (from {read_from}) runs jobs as control from {since}")
    return JobExecution(True, f"chart {chart_version} (from {read_from}) runs jobs only as hybrid before {since}")


def forail_values(cfg: Config, generated_secrets: dict[str, str], execution: JobExecution) -> dict[str, Any]:
    """The generated layer of the Forail release (the user's values files and values go on top)."""
    values: dict[str, Any] = {
        "forail": {
            "admin": {"user": cfg.stack.admin_user},
            "allowedHosts": allowed_hosts(cfg),
            "csrfTrustedOrigins": csrf_trusted_origins(cfg),
            "node": {"type": "hybrid" if execution.podman else "control"},
        },
        "secrets": dict(generated_secrets),
        "ingress": {"enabled": True, "host": cfg.hostname, "className": cfg.addons.traefik.ingress_class,
                    "tls": {"enabled": True, "secretName": cfg.tls_secret}},
    }
    if cfg.stack.http_login:
        values["forail"]["cookieSecure"] = "false"  # the chart takes a string
    if execution.podman:
        values["task"] = {"privileged": True, "hostCgroup": True}
    if cfg.pull_secret.name:
        values["imagePullSecrets"] = [{"name": cfg.pull_secret.name}]
    return values


def image_tags(cfg: Config) -> dict[str, str]:
    """Each Forail image's tag: stack.image_tags per image (`--backend-tag`, `--frontend-tag`) over
    stack.image_tag for both (`--image-tag`); an image with neither keeps the chart's."""
    tags = {"backend": cfg.stack.image_tags.backend or cfg.stack.image_tag,
            "frontend": cfg.stack.image_tags.frontend or cfg.stack.image_tag}
    return {image: tag for image, tag in tags.items() if tag}


def image_tag_values(tags: dict[str, str], local: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The images at these tags (a local build loaded with `devcluster image load`, say), taken from the node
    when it is there rather than pulled; ``local``: image -> (repository, digest) of what `image load` pushed
    to the local registry, pulled from there at tag@digest (a re-push under the same tag rolls out)."""
    if not tags:
        return {}
    out: dict[str, Any] = {image: {"tag": tag, "pullPolicy": "IfNotPresent"} for image, tag in tags.items()}
    for image, (repository, digest) in (local or {}).items():
        if image in out:
            out[image]["repository"] = repository
            out[image]["tag"] = f"{out[image]['tag']}@{digest}"
    return {"images": out}


def pushed_repositories(cfg: Config, tags: dict[str, str], repositories: dict[str, str],
                        pushed: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each image whose chart repository at its tag `image load` pushed to the local registry: that
    registry's repository (localhost:<port>/...), which every node pulls through its hosts.toml, and the
    digest pushed. ``repositories``: the release's own (user values), over the chart's defaults."""
    if not cfg.registry.enabled:
        return {}
    out = {}
    for image, tag in tags.items():
        source = repositories.get(image) or DEFAULT_REPOSITORIES.get(image, "")
        target = local_reference(f"{source}:{tag}", cfg.registry.port) if source else ""
        if pushed.get(target):
            out[image] = (target.rpartition(":")[0], pushed[target])
    return out


def operator_url(cfg: Config, forail_namespace: str) -> str:
    """forail-web's Service inside the cluster: the chart names it forail-web and adds its in-cluster names
    to ALLOWED_HOSTS itself, so no Host header override is needed."""
    return cfg.stack.operator_url or f"http://forail-web.{forail_namespace}.svc.cluster.local:8013"


def operator_values(cfg: Config, token: str, forail_namespace: str) -> dict[str, Any]:
    return {"forail": {"token": token, "url": operator_url(cfg, forail_namespace)}}
