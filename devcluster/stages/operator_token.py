"""The operator's token: minted inside the running Forail web pod, kept 0600, reused while Forail accepts it.

The operator needs an OAuth2 token of the admin user; forail-helm has no way to make one at install
time, so it is made with `forail-manage create_oauth2_token` through the exec API in a ready web pod,
as forail-dev-cluster does by hand. A stored token is checked with an authenticated read through the
ingress before reuse: after a database reset Forail no longer knows it.
"""

from __future__ import annotations

from devcluster.clients.http import http_get
from devcluster.config import Config
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local import secrets as secrets_store


def mint_token(ctx: Context) -> str:
    cfg = ctx.config
    rel = cfg.stack.release_of_kind("forail")
    ns = rel.namespace if rel else cfg.namespace
    pod = ctx.kube().running_pod_for(ns, cfg.stack.web_deployment)
    command = [part.replace("{admin_user}", cfg.stack.admin_user) for part in cfg.stack.token_command]
    output = ctx.kube().exec_in_pod(ns, pod, command)
    try:
        return secrets_store.parse_token_output(output)
    except ValueError as exc:
        raise DevclusterError(f"could not read a token from `{' '.join(command)}` in {ns}/{pod}: {exc}",
                              f"set ${cfg.stack.token_env} to a token made by hand") from exc


def token_accepted(cfg: Config, ingress_address: str, token: str) -> bool | None:
    """Whether Forail accepts ``token``: an authenticated GET through the ingress (read-only).
    None when Forail cannot be asked from here (not installed yet, ingress not reachable)."""
    try:
        code, _ = http_get(ingress_address, cfg.node_ports.http, cfg.stack.token_check_path, cfg.hostname,
                           timeout=5, token=token)
    except OSError:
        return None
    if code in (401, 403):
        return False
    return True if code == 200 else None


def token_step(cfg: Config) -> Step:
    def done(ctx: Context) -> bool:
        if secrets_store.env_token(cfg.stack.token_env):
            return True  # the user's own token: theirs to keep valid
        token = secrets_store.minted_token(ctx.state)
        return token is not None and token_accepted(cfg, ctx.provider.ingress_address(), token) is not False

    def act(ctx: Context) -> None:
        if secrets_store.minted_token(ctx.state) is not None:
            ctx.console.print("  the stored token was rejected by Forail: minting a new one")
        secrets_store.save_token(ctx.state, mint_token(ctx))

    return Step("operator-token",
                f"mint an OAuth2 token for {cfg.stack.admin_user!r} inside deploy/{cfg.stack.web_deployment} "
                f"(exec API), keep it 0600; a stored one is reused while Forail accepts it "
                f"(GET {cfg.stack.token_check_path}); ${cfg.stack.token_env} overrides", act, done)
