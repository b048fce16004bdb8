"""Generated stack secrets: made once with `secrets`, kept 0600, reused forever.

Re-running `up` must never rotate them: the database was initialised with
the first postgres password and Django signs sessions with the first key.

Which ones devcluster pins: forail-helm requires `forailAdminPassword`, and
generates the others itself when empty, reusing them on upgrade through a
`lookup` of its Secret. That lookup finds nothing after `helm uninstall` while
postgres' volume (a StatefulSet PVC, which uninstall keeps) still holds the
first password and the database still holds data encrypted with the first
secret key: a reinstall would then fail to log in. So devcluster pins the
admin password, the postgres password, the secret key and the websocket
secret; the chart's own generation is left to redisPassword and
assistantChatToken (runtime-only, nothing persisted depends on them).
"""

from __future__ import annotations

import os
import secrets

from devcluster.local.state import State, write_private

SECRETS_FILE = "secrets.json"
TOKEN_FILE = "operator-token"
# Chart value names under `secrets.` (forail-on-kubernetes, "Install Forail core").
SECRET_KEYS = ("forailAdminPassword", "postgresPassword", "forailSecretKey", "forailBroadcastWebsocketSecret")


def load_or_create(state: State) -> dict[str, str]:
    data = state.read_json(SECRETS_FILE)
    missing = [k for k in SECRET_KEYS if not data.get(k)]
    if missing:
        for key in missing:
            data[key] = secrets.token_hex(32)
        state.write_json(SECRETS_FILE, data)
    return {k: data[k] for k in SECRET_KEYS}


def stored(state: State) -> dict[str, str] | None:
    """The generated secrets when all are there, without generating anything (for read-only checks)."""
    data = state.read_json(SECRETS_FILE)
    return {k: data[k] for k in SECRET_KEYS} if all(data.get(k) for k in SECRET_KEYS) else None


def in_use(state: State, admin_password_env: str) -> dict[str, str] | None:
    """The stored secrets with the admin password the stack really gets: the value of
    ``admin_password_env`` when that variable is set (suites with fixed credentials), else the generated one."""
    data = stored(state)
    fixed = os.environ.get(admin_password_env, "") if admin_password_env else ""
    if data is not None and fixed:
        data["forailAdminPassword"] = fixed
    return data


def exists(state: State) -> bool:
    data = state.read_json(SECRETS_FILE)
    return all(data.get(k) for k in SECRET_KEYS)


def env_token(env_var: str) -> str | None:
    return os.environ.get(env_var, "").strip() or None


def minted_token(state: State) -> str | None:
    p = state.path(TOKEN_FILE)
    return (p.read_text().strip() or None) if p.is_file() else None


def stored_token(state: State, env_var: str) -> str | None:
    """The operator token: the environment wins, then the one minted on an earlier run."""
    return env_token(env_var) or minted_token(state)


def save_token(state: State, token: str) -> None:
    write_private(state.path(TOKEN_FILE), token.strip() + "\n")


def parse_token_output(output: str) -> str:
    """The token is the last non-empty line (`forail-manage create_oauth2_token ... | tail -1`)."""
    lines = [ln.strip() for ln in output.replace("\r", "").splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the token command printed nothing")
    token = lines[-1]
    if " " in token or len(token) < 16:
        raise ValueError("the last line of the token command does not look like a token")
    return token
