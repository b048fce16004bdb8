"""What `image load` pushed to the local registry, so the stack's image values can point at it.

A record in the cluster's state dir, not a look into the registry at install time: the release's values
must not depend on whether the registry answers at that moment (a flapping answer would flap the
release). `down --purge-registry` forgets it with the registry's data.
"""

from __future__ import annotations

from devcluster.local.state import State

RECORD = "pushed-images.json"


def pushed(state: State) -> set[str]:
    """The references pushed (localhost:<port>/path:tag)."""
    return set(state.read_json(RECORD).get("pushed") or [])


def record(state: State, references: list[str]) -> None:
    state.write_json(RECORD, {"pushed": sorted(pushed(state) | set(references))})


def forget(state: State) -> None:
    state.path(RECORD).unlink(missing_ok=True)
