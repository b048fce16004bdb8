"""The values devcluster derives for forail-helm and forail-operator from the cluster config.

Pure functions of the config (and the generated secrets / token), so they are tested against what
the real helm renders. The keys follow the published charts: forail-helm 2026.x (`forail.allowedHosts`
and `forail.csrfTrustedOrigins` as comma-separated strings, `forail.node.type`, `task.*`, `ingress.*`,
`images.*`, `secrets.*`) and forail-operator v2026.06.0 (`forail.url`, `forail.token`).
"""

from __future__ import annotations

from typing import Any

from devcluster.config import Config

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
PODMAN_WARNING = (
    "stack.job_execution: podman runs Forail's jobs through podman inside a privileged task pod "
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


def forail_values(cfg: Config, generated_secrets: dict[str, str]) -> dict[str, Any]:
    """The generated layer of the Forail release (the user's values files and values go on top)."""
    podman = cfg.stack.job_execution == "podman"
    values: dict[str, Any] = {
        "forail": {
            "admin": {"user": cfg.stack.admin_user},
            "allowedHosts": allowed_hosts(cfg),
            "csrfTrustedOrigins": csrf_trusted_origins(cfg),
            "node": {"type": "hybrid" if podman else "control"},
        },
        "secrets": dict(generated_secrets),
        "ingress": {"enabled": True, "host": cfg.hostname, "className": cfg.addons.traefik.ingress_class,
                    "tls": {"enabled": True, "secretName": cfg.tls_secret}},
    }
    if podman:
        values["task"] = {"privileged": True, "hostCgroup": True}
    if cfg.pull_secret.name:
        values["imagePullSecrets"] = [{"name": cfg.pull_secret.name}]
    return values


def image_tag_values(tag: str) -> dict[str, Any]:
    """Both Forail images at one tag (a local build loaded with `devcluster image load`, say), taken from
    the node when it is there rather than pulled."""
    if not tag:
        return {}
    image = {"tag": tag, "pullPolicy": "IfNotPresent"}
    return {"images": {"backend": dict(image), "frontend": dict(image)}}


def operator_url(cfg: Config, forail_namespace: str) -> str:
    """forail-web's Service inside the cluster: the chart names it forail-web and adds its in-cluster names
    to ALLOWED_HOSTS itself, so no Host header override is needed."""
    return cfg.stack.operator_url or f"http://forail-web.{forail_namespace}.svc.cluster.local:8013"


def operator_values(cfg: Config, token: str, forail_namespace: str) -> dict[str, Any]:
    return {"forail": {"token": token, "url": operator_url(cfg, forail_namespace)}}
