"""What the packaged E2E suite (tests/e2e) reads: the cluster, and the config values it checks against.

The suite runs in its own pytest process; everything it expects travels as DEVCLUSTER_* variables so it
checks this cluster's names and ports, not devcluster's defaults.
"""

from __future__ import annotations

from devcluster.engine.steps import Context
from devcluster.local import secrets as secrets_store


def e2e_env(ctx: Context) -> dict[str, str]:
    cfg = ctx.config
    operator = cfg.stack.release_of_kind("forail-operator")
    env = {
        "DEVCLUSTER_HOSTNAME": cfg.hostname,
        "DEVCLUSTER_NAMESPACE": cfg.namespace,
        "DEVCLUSTER_TLS_SECRET": cfg.tls_secret,
        "DEVCLUSTER_INGRESS_ADDRESS": ctx.provider.ingress_address(),
        "DEVCLUSTER_HTTP_PORT": str(cfg.node_ports.http),
        "DEVCLUSTER_HTTPS_PORT": str(cfg.node_ports.https),
        "DEVCLUSTER_TRAEFIK_NAMESPACE": cfg.addons.traefik.namespace,
        "DEVCLUSTER_TRAEFIK_RELEASE": cfg.addons.traefik.release,
        "DEVCLUSTER_STACK": "1" if cfg.stack.enabled and cfg.stack.releases else "0",
        "DEVCLUSTER_OPERATOR_NAMESPACE": operator.namespace if operator else "",
        "DEVCLUSTER_OPERATOR_RELEASE": operator.name if operator else "",
        "DEVCLUSTER_CRD_GROUP": cfg.stack.crd_group,
        "DEVCLUSTER_SAMPLE_ORGANIZATION": cfg.stack.sample_organization,
        "DEVCLUSTER_JOB_TEMPLATE": cfg.stack.verify_job_template,
        "DEVCLUSTER_JOB_TIMEOUT": str(cfg.stack.verify_timeout),
        "DEVCLUSTER_FORAIL_TOKEN_FILE": str(ctx.state.path(secrets_store.TOKEN_FILE)),
        "DEVCLUSTER_FORAIL_TOKEN_ENV": cfg.stack.token_env,
    }
    return {**env, **ctx.provider.access().env()}
