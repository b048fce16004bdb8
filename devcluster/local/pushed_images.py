"""What `image load` pushed to the local registry, so the stack's image values can point at it.

A record in the cluster's state dir, not a look into the registry at install time: the release's values
must not depend on whether the registry answers at that moment (a flapping answer would flap the
release). `down --purge-registry` forgets it with the registry's data.
"""

from __future__ import annotations

from devcluster.local.state import State

RECORD = "pushed-images.json"


def pushed(state: State) -> dict[str, str]:
    """Each reference pushed (localhost:<port>/path:tag) -> the digest the registry served for it then."""
    found = state.read_json(RECORD).get("pushed") or {}
    return {str(ref): str(digest) for ref, digest in found.items()} if isinstance(found, dict) else {}


def record(state: State, digests: dict[str, str]) -> None:
    """Remember ``digests`` (a re-push of a tag replaces its digest: the release then rolls out)."""
    state.write_json(RECORD, {"pushed": {**pushed(state), **digests}})


def forget(state: State) -> None:
    state.path(RECORD).unlink(missing_ok=True)
