"""kind provider at the process boundary: a fake `kind` (and `docker`) on PATH record their arguments.

kind needs a Docker engine, which this machine does not run; the fakes
stand in for the binaries, and the API behind the written kubeconfig is
tests/fakeapi.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from devcluster import config
from devcluster.cli import app
from devcluster.engine.steps import Context, execute
from devcluster.errors import DevclusterError, StepError
from devcluster.local.state import State
from devcluster.providers.kind import KindProvider, busy_ports, render_config

# These tests are about kind itself; the registry and caches (on by default) are docker containers the fake
# docker here does not play: tests/unit/test_registry_docker.py runs them with a real dockerd.
REGISTRY_OFF = {"registry.enabled": False, "registry.mirrors.enabled": False}

FAKE_KIND = """
state = os.environ["FAKE_KIND_CLUSTERS"]
clusters = open(state).read().split() if os.path.exists(state) else []
args = sys.argv[1:]
if args[:2] == ["get", "clusters"]:
    print("\\n".join(clusters))
elif args[:2] == ["create", "cluster"]:
    name = args[args.index("--name") + 1]
    kubeconfig = args[args.index("--kubeconfig") + 1]
    open(kubeconfig, "w").write(open(os.environ["FAKE_KIND_KUBECONFIG"]).read())
    open(state, "w").write("\\n".join(clusters + [name]))
    import shutil
    shutil.copy(args[args.index("--config") + 1], os.environ["FAKE_KIND_CONFIG_COPY"])
elif args[:2] == ["get", "kubeconfig"]:
    print(open(os.environ["FAKE_KIND_KUBECONFIG"]).read())
elif args[:2] == ["delete", "cluster"]:
    name = args[args.index("--name") + 1]
    open(state, "w").write("\\n".join(c for c in clusters if c != name))
"""


def test_rendered_config_is_multi_node_pinned_and_publishes_ports_on_loopback() -> None:
    cfg = config.load(None)
    doc = yaml.safe_load(yaml.safe_dump(render_config(cfg)))
    assert doc["kind"] == "Cluster" and doc["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [n["role"] for n in doc["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    cp = doc["nodes"][0]
    assert cp["labels"] == {"ingress-ready": "true"}
    assert "kubeadmConfigPatches" not in cp, "labels go in the per-node `labels:` field, not a kubelet patch"
    assert cp["extraPortMappings"] == [
        {"containerPort": 30080, "hostPort": 30080, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": 30443, "hostPort": 30443, "listenAddress": "127.0.0.1", "protocol": "TCP"},
    ]
    assert {n["image"] for n in doc["nodes"]} == {
        "kindest/node:v1.30.13@sha256:397209b3d947d154f6641f2d0ce8d473732bd91c87d9575ade99049aa33cd648"}


@pytest.fixture
def kind_env(tmp_path: Path, fake_tools, fake_api, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    fake_tools.add("kind", FAKE_KIND)
    fake_tools.add("docker", "print('28.2.2')")
    monkeypatch.setenv("FAKE_KIND_CLUSTERS", str(tmp_path / "clusters"))
    monkeypatch.setenv("FAKE_KIND_KUBECONFIG", str(fake_api.write_kubeconfig(tmp_path / "fake-kc", "kind-devcluster")))
    monkeypatch.setenv("FAKE_KIND_CONFIG_COPY", str(tmp_path / "kind-config-used.yaml"))
    # a fresh port pair nobody uses, for the test that probes real ports
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


def no_busy_ports(address: str, ports: list[int]) -> list[int]:
    """The port probe for tests: the host's own 30080/30443 (a developer's kind cluster) must not matter."""
    return []


def make_ctx(cfg: config.Config, port_probe=no_busy_ports) -> Context:  # type: ignore[no-untyped-def]
    state = State(cfg.state_path)
    state.root.mkdir(parents=True, exist_ok=True)
    return Context(cfg, state, Console(quiet=True), KindProvider(cfg, state, port_probe=port_probe))


def kind_cfg(tmp_path: Path, http: int = 30080, https: int = 30443) -> config.Config:
    cfg = config.load(None, {"provider": "kind", "timeouts.nodes_ready": 1, **REGISTRY_OFF})
    cfg.node_ports.http, cfg.node_ports.https = http, https
    return cfg


def test_kind_cluster_steps_create_export_and_wait_for_all_nodes(tmp_path, kind_env, fake_tools, fake_api) -> None:  # type: ignore[no-untyped-def]
    for name in ("devcluster-control-plane", "devcluster-worker", "devcluster-worker2"):
        fake_api.add_node(name)
    cfg = kind_cfg(tmp_path)
    ctx = make_ctx(cfg)
    outcomes = execute(ctx.provider.cluster_steps(), ctx)
    assert [o.status for o in outcomes] == ["ran", "ran", "done", "done"]  # kubeconfig written by create
    create = next(c["argv"] for c in fake_tools.calls("kind") if c["argv"][:2] == ["create", "cluster"])
    assert create[create.index("--name") + 1] == "devcluster"
    assert create[create.index("--kubeconfig") + 1] == str(ctx.state.kubeconfig)
    assert create[create.index("--wait") + 1] == "600s"
    used = yaml.safe_load((tmp_path / "kind-config-used.yaml").read_text())
    assert used["name"] == "devcluster" and len(used["nodes"]) == 3
    assert ctx.state.kubeconfig.stat().st_mode & 0o777 == 0o600
    # re-run: nothing is created again
    again = execute(ctx.provider.cluster_steps(), make_ctx(cfg))
    assert [o.status for o in again] == ["ran", "done", "done", "done"]  # preflight always checks
    assert sum(c["argv"][:2] == ["create", "cluster"] for c in fake_tools.calls("kind")) == 1


def test_kind_wait_exiting_zero_with_a_worker_not_ready_is_caught(tmp_path, kind_env, fake_api) -> None:  # type: ignore[no-untyped-def]
    """`kind create --wait` only waits for control planes: a NotReady worker must fail nodes-ready."""
    fake_api.add_node("devcluster-control-plane")
    fake_api.add_node("devcluster-worker")
    fake_api.add_node("devcluster-worker2", ready=False)
    ctx = make_ctx(kind_cfg(tmp_path))
    with pytest.raises(StepError, match=r"nodes-ready.*not ready: devcluster-worker2"):
        execute(ctx.provider.cluster_steps(), ctx)


def test_kind_counts_nodes_itself_when_a_worker_is_missing(tmp_path, kind_env, fake_api) -> None:  # type: ignore[no-untyped-def]
    fake_api.add_node("devcluster-control-plane")
    fake_api.add_node("devcluster-worker")
    ctx = make_ctx(kind_cfg(tmp_path))
    with pytest.raises(StepError, match="2/3 Ready"):
        execute(ctx.provider.cluster_steps(), ctx)


def test_busy_port_fails_before_anything_is_created(tmp_path, kind_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        ctx = make_ctx(kind_cfg(tmp_path, http=port, https=kind_env[1]), port_probe=busy_ports)
        assert busy_ports("127.0.0.1", [port, kind_env[1]]) == [port]
        with pytest.raises(StepError) as err:
            execute(ctx.provider.cluster_steps(), ctx)
    assert f"port(s) {port} on 127.0.0.1 are already in use" in err.value.message
    assert not any(c["argv"][:1] == ["create"] for c in fake_tools.calls("kind"))


def test_docker_not_running_is_a_clear_error(tmp_path, kind_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    fake_tools.add("docker", "sys.stderr.write('Cannot connect to the Docker daemon\\n'); sys.exit(1)")
    ctx = make_ctx(kind_cfg(tmp_path))
    with pytest.raises(StepError) as err:
        execute(ctx.provider.cluster_steps(), ctx)
    assert "docker info" in err.value.message and "Cannot connect to the Docker daemon" in err.value.message
    assert "start Docker" in (err.value.hint or "")


def test_kind_missing_is_a_clear_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    ctx = make_ctx(kind_cfg(tmp_path))
    with pytest.raises(StepError) as err:
        execute(ctx.provider.cluster_steps(), ctx)
    assert "`kind` was not found on PATH" in err.value.message and "v0.29.0" in (err.value.hint or "")


def test_dry_run_does_not_call_kind(fake_tools, isolated_state) -> None:  # type: ignore[no-untyped-def]
    fake_tools.add("kind", "sys.exit(3)")
    result = CliRunner().invoke(app, ["up", "--provider", "kind", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "create-cluster" in result.output and "nothing was checked or changed" in result.output
    assert fake_tools.calls("kind") == []
    assert not isolated_state.exists()


def test_down_deletes_the_cluster_and_the_hosts_block(tmp_path, kind_env, fake_tools, write_config) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "clusters").write_text("devcluster\n")
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("127.0.0.1 localhost\n# BEGIN devcluster devcluster\n127.0.0.1\tforail.lan\n"
                          "# END devcluster devcluster\n")
    cfg = write_config(f"hosts:\n  file: {hosts_file}\n")
    result = CliRunner().invoke(app, ["down", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    delete = [c["argv"] for c in fake_tools.calls("kind") if c["argv"][:2] == ["delete", "cluster"]]
    assert delete and delete[0][delete[0].index("--name") + 1] == "devcluster"
    assert hosts_file.read_text() == "127.0.0.1 localhost\n"


def test_error_exit_codes_through_main(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    bad = write_config("kind:\n  workers: x\n")
    proc = subprocess.run([sys.executable, "-m", "devcluster", "up", "--dry-run", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "kind.workers: expected an integer" in proc.stderr and "Traceback" not in proc.stderr


FAKE_DOCKER_EXEC = """
args = sys.argv[1:]
if args and args[0] == "exec":
    # `docker exec <container> /bin/sh -c CMD`: answer as the node would. The control plane forwards IPv4,
    # the worker does not, so the suite must report exactly the worker's ip_forward as failed.
    container, command = args[1], " ".join(args[2:])
    if "net.ipv4.ip_forward" in command and "command -v" not in command:
        print("1" if container.endswith("control-plane") else "0")
        sys.exit(0)
    import subprocess  # anything else (testinfra's OS and command probes) runs here
    sys.exit(subprocess.call(args[2:]))
print("28.2.2")
"""


def test_check_nodes_on_kind_runs_the_suite_through_the_docker_backend(tmp_path, kind_env, fake_tools, fake_api,
                                                                      monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A fake `docker` answers each `docker exec` as a kind node container would (Docker cannot run here):
    what is checked is the plumbing (hosts, expectations, junit, exit code), not this machine's settings."""
    import xml.etree.ElementTree as ET

    fake_tools.add("docker", FAKE_DOCKER_EXEC)
    fake_api.add_node("devcluster-control-plane", role="control-plane", ip="172.18.0.2")
    fake_api.add_node("devcluster-worker", ip="172.18.0.3")
    cfg = config.load(None, {"provider": "kind", **REGISTRY_OFF})
    cfg.state_path.mkdir(parents=True)
    fake_api.write_kubeconfig(cfg.state_path / "kubeconfig")  # what `up` would have left
    junit = tmp_path / "nodes.xml"
    result = CliRunner().invoke(app, ["check", "nodes", "--provider", "kind", "--junitxml", str(junit), "--",
                                      "-k", "ip_forward or swap or eth1 or api_server_listens"])
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    for node in ("devcluster-control-plane", "devcluster-worker"):
        assert f"test_ip_forward_is_on[docker://{node}]" in cases
        assert cases[f"test_swap_is_off[docker://{node}]"].find("skipped") is not None  # kind shares host swap
        assert cases[f"test_internal_ip_is_the_eth1_address[docker://{node}]"].find("skipped") is not None
    assert cases["test_api_server_listens_on_control_planes[docker://devcluster-worker]"].find("skipped") is not None
    assert cases["test_ip_forward_is_on[docker://devcluster-control-plane]"].find("failure") is None
    assert cases["test_ip_forward_is_on[docker://devcluster-worker]"].find("failure") is not None
    assert result.exit_code == 1, "a failed node check fails the command"


FAKE_DOCKER_IMAGES = """
args = sys.argv[1:]
ids = {"ghcr.io/forail-platform/forail-backend:dev": "sha256:b1",
       "ghcr.io/forail-platform/forail-frontend:dev": "sha256:f1"}
if args[:2] == ["image", "inspect"]:
    print(ids[args[-1]])
elif args[:1] == ["exec"] and "inspecti" in args:
    held = {"devcluster-control-plane": ["sha256:b1", "sha256:f1"], "devcluster-worker": ["sha256:b1"]}
    image_id = ids[args[-1]]
    if image_id not in held[args[1]]:
        sys.exit(1)
    print(json.dumps({"status": {"id": image_id}}))
elif args[:1] == ["save"]:
    open(args[args.index("-o") + 1], "w").write("tar")
else:
    print("28.2.2")
"""


@pytest.mark.parametrize("case", ["registry off", "cluster made without the registry"])
def test_image_load_on_kind_archives_only_into_nodes_without_the_image_with_fake_kind_and_docker(
        tmp_path, kind_env, fake_tools, case) -> None:  # type: ignore[no-untyped-def]
    """Fake `kind` and `docker` record the calls (kind nodes need a Docker that runs privileged containers, which
    this machine does not): `docker save` then `kind load image-archive` (kind #3795), and a node whose
    `crictl inspecti` id is the image's ID is skipped (kind #380). The registry path runs against a real
    dockerd in test_registry_docker.py. With the registry on but the cluster made without it (its containerd
    ignores hosts.toml: pods could not pull localhost:5001/...) the images go into the nodes too."""
    (tmp_path / "clusters").write_text("devcluster\n")
    fake_tools.add("kind", FAKE_KIND + """
if args[:2] == ["get", "nodes"]:
    print("devcluster-control-plane\\ndevcluster-worker")
""")
    fake_tools.add("docker", FAKE_DOCKER_IMAGES)
    off = tmp_path / "devcluster.yaml"
    if case == "registry off":
        off.write_text("registry:\n  enabled: false\n")  # without the local registry: archives into the nodes
    else:
        off.write_text("name: devcluster\n")
        made = config.load(off).state_path / "kind-config.yaml"
        made.parent.mkdir(parents=True, exist_ok=True)
        made.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: []\n")  # no containerd patch
    result = CliRunner().invoke(app, ["image", "load", "--provider", "kind", "--config", str(off),
                                      "ghcr.io/forail-platform/forail-backend:dev",
                                      "ghcr.io/forail-platform/forail-frontend:dev"])
    assert result.exit_code == 0, result.output
    loads = [c["argv"] for c in fake_tools.calls("kind") if c["argv"][:1] == ["load"]]
    assert len(loads) == 1 and loads[0][:2] == ["load", "image-archive"]
    assert loads[0][-4:] == ["--name", "devcluster", "--nodes", "devcluster-worker"]
    saves = [c["argv"] for c in fake_tools.calls("docker") if c["argv"][:1] == ["save"]]
    assert [s[-1] for s in saves] == ["ghcr.io/forail-platform/forail-frontend:dev"]
    assert "ghcr.io/forail-platform/forail-backend:dev: devcluster-worker already holds" in result.output
    assert "into 2 node(s)" in result.output
    assert ("was made without the registry" in result.output) == (case != "registry off")


def test_image_load_without_a_kind_cluster_says_so_with_fake_kind(kind_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["image", "load", "--provider", "kind", "x:1"])
    assert isinstance(result.exception, DevclusterError) and "no kind cluster 'devcluster'" in result.exception.message
    assert not any(c["argv"][:1] == ["load"] for c in fake_tools.calls("kind"))


def test_image_load_on_an_existing_cluster_is_refused(tmp_path, fake_api) -> None:  # type: ignore[no-untyped-def]
    kc = fake_api.write_kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text(f"provider: existing\nexisting:\n  kubeconfig: {kc}\n")
    result = CliRunner().invoke(app, ["image", "load", "--config", str(cfg), "x:1"])
    assert isinstance(result.exception, DevclusterError)
    assert "cannot load images" in result.exception.message and "registry" in (result.exception.hint or "")


def test_a_changed_worker_count_is_explained_not_timed_out_with_fake_kind(tmp_path, kind_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """A fake `kind` says the cluster exists (Docker cannot run here); it was created with 2 workers and the
    config now asks for 3: preflight stops with the difference and the way out, before any wait."""
    (tmp_path / "clusters").write_text("devcluster\n")
    made = kind_cfg(tmp_path)
    ctx = make_ctx(made)
    ctx.provider.config_path.write_text(yaml.safe_dump(render_config(made)))
    wanted = config.load(None, {"provider": "kind", "kind.workers": 3})
    with pytest.raises(StepError) as err:
        execute(make_ctx(wanted).provider.cluster_steps(), make_ctx(wanted))
    assert "step 'preflight' failed" in err.value.message
    assert "kind.workers: the cluster has 2, the config asks for 3" in err.value.message
    assert "devcluster down" in (err.value.hint or "")
    assert not any(c["argv"][:2] == ["create", "cluster"] for c in fake_tools.calls("kind"))
