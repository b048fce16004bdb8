"""`devcluster stop` / `start` on kind, and `up` on a stopped kind cluster (issue 18).

kind and Docker cannot run here: `kind` and `docker` are recording fake executables on PATH that share one
small "Docker" state file (which node containers exist, whether they run, their addresses). A restart's
effects are what the fakes record: `docker start` may hand out other addresses, and the API server's host
port moves (the state kubeconfig then names a loopback port nobody listens on). The API behind the kubeconfig
`kind get kubeconfig` prints is tests/fakeapi.py.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from devcluster import config
from devcluster.cli import app
from devcluster.engine.steps import execute
from devcluster.errors import ConfigError
from tests.unit.test_kind import make_ctx

NODES = {"devcluster-control-plane": "172.18.0.3", "devcluster-worker": "172.18.0.2",
         "devcluster-worker2": "172.18.0.4"}

FAKE_KIND = """
world = json.load(open(os.environ["FAKE_DOCKER_WORLD"]))
args = sys.argv[1:]
if args[:2] == ["get", "clusters"]:
    print("\\n".join(world["clusters"]))
elif args[:2] == ["get", "nodes"]:
    print("\\n".join(world["containers"]))
elif args[:2] == ["get", "kubeconfig"]:
    print(open(world["kubeconfig"]).read())
else:
    sys.exit("fake kind: unexpected " + " ".join(args))
"""

FAKE_DOCKER = """
path = os.environ["FAKE_DOCKER_WORLD"]
world = json.load(open(path))
args = sys.argv[1:]
boxes = world["containers"]
if args[:1] == ["inspect"]:
    for name in args[3:]:
        c = boxes[name]
        print("/" + name, "true" if c["running"] else "false", (c["ip"] + " ") if c["running"] else "")
elif args[:1] == ["stop"]:
    for name in args[1:]:
        boxes[name]["running"] = False
elif args[:1] == ["start"]:
    for name in args[1:]:
        boxes[name]["running"] = True
        boxes[name]["ip"] = world.get("restart_ips", {}).get(name, boxes[name]["ip"])
else:
    print("28.2.2")
json.dump(world, open(path, "w"))
"""


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def docker_world(tmp_path: Path, fake_tools, fake_api, monkeypatch: pytest.MonkeyPatch, write_config):  # type: ignore[no-untyped-def]
    """A running 3-node kind cluster `devcluster` as the fakes see it, and its nodes in the fake API."""
    for name, ip in NODES.items():
        fake_api.add_node(name, role="control-plane" if "control-plane" in name else "worker", ip=ip)
    live = fake_api.write_kubeconfig(tmp_path / "live-kubeconfig", "kind-devcluster")
    world = tmp_path / "docker-world.json"
    world.write_text(json.dumps({"clusters": ["devcluster"], "kubeconfig": str(live),
                                 "containers": {n: {"running": True, "ip": ip} for n, ip in NODES.items()}}))
    monkeypatch.setenv("FAKE_DOCKER_WORLD", str(world))
    fake_tools.add("kind", FAKE_KIND)
    fake_tools.add("docker", FAKE_DOCKER)
    # the registry's containers are docker's too, and this fake docker plays only the kind nodes
    write_config("timeouts:\n  nodes_ready: 3\nregistry:\n  enabled: false\n  mirrors:\n    enabled: false\n")
    state_kc = config.load(None).state_path / "kubeconfig"
    state_kc.parent.mkdir(parents=True, exist_ok=True)
    state_kc.write_text(live.read_text())
    return world, state_kc, live


def edit(world: Path, **changes: Any) -> None:
    data = json.loads(world.read_text())
    data.update(changes)
    world.write_text(json.dumps(data))


def docker_calls(fake_tools, verb: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [c["argv"] for c in fake_tools.calls("docker") if c["argv"][:1] == [verb]]


def moved_port(kubeconfig: Path, dest: Path) -> Path:
    """The kubeconfig as it was before the restart: its server's port is not where the API listens now."""
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_loopback_port()}"
    dest.write_text(yaml.safe_dump(doc))
    return dest


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--provider", "kind"], env={"COLUMNS": "300"})


def test_stop_then_start_with_fake_kind_and_docker_orders_nodes_and_reexports_the_moved_api_port(
        docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    _world, state_kc, live = docker_world
    stopped = cli("stop")
    assert stopped.exit_code == 0, stopped.output
    assert docker_calls(fake_tools, "stop") == [["stop", "devcluster-worker2", "devcluster-worker",
                                                 "devcluster-control-plane"]]
    status = cli("status", "--output", "json")
    assert status.exit_code == 1 and json.loads(status.output)["state"] == "stopped"
    assert "stopped" in cli("status").output

    before = state_kc.read_text()
    moved_port(state_kc, state_kc)
    assert state_kc.read_text() != before
    started = cli("start")
    out = " ".join(started.output.split())
    assert started.exit_code == 0, out
    assert [c[1] for c in docker_calls(fake_tools, "start")] == ["devcluster-control-plane", "devcluster-worker",
                                                                "devcluster-worker2"]
    assert "repaired: the API server moved" in out and "exported again" in out
    assert yaml.safe_load(state_kc.read_text()) == yaml.safe_load(live.read_text())
    assert json.loads(cli("status", "--output", "json").output)["state"] == "running"
    # a second start finds nothing to do
    again = cli("start")
    assert again.exit_code == 0 and len(docker_calls(fake_tools, "start")) == 3


def test_start_after_the_nodes_moved_reports_it_and_checks_the_nodes_took_their_new_address(
        docker_world, fake_tools, fake_api) -> None:  # type: ignore[no-untyped-def]
    """Fake docker hands out other addresses on start (kind #2045); kind's entrypoint re-registers each node
    with its new address, which the fake API shows."""
    world, _, _ = docker_world
    assert cli("stop").exit_code == 0
    new = {"devcluster-control-plane": "172.18.0.2", "devcluster-worker": "172.18.0.4",
           "devcluster-worker2": "172.18.0.3"}
    edit(world, restart_ips=new)
    for name, ip in new.items():
        fake_api.add_node(name, role="control-plane" if "control-plane" in name else "worker", ip=ip)
    started = cli("start")
    out = " ".join(started.output.split())
    assert started.exit_code == 0, out
    assert "repaired: devcluster-control-plane moved 172.18.0.3 -> 172.18.0.2" in out


def test_start_says_the_cluster_must_be_recreated_when_a_node_kept_its_old_address(
        docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    world, _, _ = docker_world
    assert cli("stop").exit_code == 0
    edit(world, restart_ips={"devcluster-worker": "172.18.0.9"})
    started = cli("start")
    assert started.exit_code == 1
    err = started.exception
    assert "did not survive the restart" in err.message
    assert "devcluster-worker registered as 172.18.0.2 but its container is at 172.18.0.9" in err.message
    assert "devcluster down, then devcluster up" in (err.hint or "")


def test_up_on_a_stopped_kind_cluster_starts_it_instead_of_recreating_it(docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """The fake kind has no `create cluster`/`delete cluster`: reaching either fails the test."""
    _world, state_kc, _ = docker_world
    assert cli("stop").exit_code == 0
    moved_port(state_kc, state_kc)
    cfg = config.load(None, {"provider": "kind"})
    ctx = make_ctx(cfg)
    outcomes = execute(ctx.provider.cluster_steps(), ctx)
    assert [(o.name, o.status) for o in outcomes] == [("preflight", "ran"), ("create-cluster", "done"),
                                                      ("kubeconfig", "ran"), ("nodes-ready", "done")]
    assert len(docker_calls(fake_tools, "start")) == 3
    assert not [c for c in fake_tools.calls("kind") if c["argv"][:1] in (["create"], ["delete"])]


def test_stop_and_start_refuse_an_existing_cluster_with_exit_2(tmp_path: Path) -> None:
    for verb in ("stop", "start"):
        result = CliRunner().invoke(app, [verb, "--provider", "existing"])
        assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 2
        assert "cannot stop or start" in result.exception.message


def test_start_output_json_is_one_event_per_step(docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    assert cli("stop", "--output", "json").exit_code == 0
    result = CliRunner().invoke(app, ["start", "--provider", "kind", "--output", "json"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["step"] for e in lines if e["status"] in ("finish", "skip")] == [
        "start-nodes", "restart-repair", "api", "nodes-ready", "node-addresses"]


def test_status_without_docker_still_answers_from_the_api(docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """A failing `docker` (fake, exits 1) must not turn `status` into an error: the state is `unknown` and
    the API, which answers, decides."""
    fake_tools.add("docker", "sys.exit('Cannot connect to the Docker daemon')")
    result = cli("status", "--output", "json")
    data = json.loads(result.output)
    assert result.exit_code == 0 and data["state"] == "unknown" and data["reachable"] is True
    assert "Docker daemon" in data["state_error"]


def test_stop_and_start_without_a_cluster_say_so_at_once(docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Fake kind lists no nodes: no wait for an API that will never answer, but the way to make one."""
    world, _, _ = docker_world
    edit(world, clusters=[], containers={})
    for verb in ("stop", "start"):
        result = cli(verb)
        assert result.exit_code == 1
        assert "no kind cluster 'devcluster'" in result.exception.message
        assert "devcluster up --provider kind" in (result.exception.hint or "")


def test_up_on_a_stopped_kind_cluster_without_its_kubeconfig_exports_it_first(docker_world, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Recording fakes for kind and docker. A stopped cluster whose state dir lost its kubeconfig: the
    kubeconfig step starts the nodes, exports the kubeconfig and only then waits for the API (waiting first
    failed with "no kubeconfig")."""
    _world, state_kc, _ = docker_world
    assert cli("stop").exit_code == 0
    state_kc.unlink()
    cfg = config.load(None, {"provider": "kind"})
    ctx = make_ctx(cfg)
    outcomes = execute(ctx.provider.cluster_steps(), ctx)
    assert ("kubeconfig", "ran") in [(o.name, o.status) for o in outcomes]
    assert state_kc.is_file() and len(docker_calls(fake_tools, "start")) == 3
