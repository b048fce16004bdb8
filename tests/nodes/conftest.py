"""Node checks run by `devcluster check nodes` (testinfra; hosts come from --hosts).

DEVCLUSTER_NODES is a JSON map from node name to what the API says about it
(role, InternalIP, provider, whether the eth1 checks apply). A host missing
from the map is checked as a worker with no eth1 expectations.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest


def node_specs() -> dict[str, dict[str, Any]]:
    return json.loads(os.environ.get("DEVCLUSTER_NODES", "{}"))


@pytest.fixture
def spec(host: Any) -> dict[str, Any]:
    name = host.backend.get_hostname()
    default = {"name": name, "role": "worker", "internal_ip": "", "provider": "", "check_eth1": False}
    return node_specs().get(name, default)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside `devcluster check nodes` (no --hosts) these checks would inspect the test machine itself."""
    if config.getoption("hosts", default=None):
        return
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason="node checks need --hosts: run them with `devcluster check nodes`")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)
