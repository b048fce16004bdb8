"""`devcluster stop` / `start` on Vagrant with the real Debian `vagrant` and VirtualBox faked beneath it
(issue 18).

VirtualBox cannot run here: `VBoxManage` is a recording fake executable on PATH holding each VM's state in
a JSON file, so Vagrant's virtualbox provider sees VMs devcluster made earlier (their ids are in the state
dir's .vagrant/, as `vagrant up` leaves them). What is checked is what Vagrant asks VirtualBox to do: the
order of the power-offs and starts, and that a failing start is powered off and tried again, never
destroyed (no `unregistervm`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from devcluster import config
from devcluster.engine.steps import Context, execute
from devcluster.errors import StepError
from devcluster.local.state import State
from devcluster.providers import vagrant as vp
from tests.unit.test_vagrant_real import host_seams, isolated_vagrant

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="Debian's vagrant is not installed")

FAKE_VBOXMANAGE = """
path = os.environ["FAKE_VBOX_VMS"]
vms = json.load(open(path))
args = sys.argv[1:]
def save():
    json.dump(vms, open(path, "w"))
if args == ["--version"]:
    print("7.0.20r163906")
    sys.exit(0)
if args[:2] == ["list", "vms"]:
    for uuid, vm in vms.items():
        print('"%s" {%s}' % (vm["name"], uuid))
    sys.exit(0)
if args[:2] == ["list", "hostonlyifs"]:
    print("Name: vboxnet0|GUID: 786f6276-656e-4074-8000-0a0027000000|DHCP: Disabled|IPAddress: 192.168.56.1|"
          "NetworkMask: 255.255.255.0|IPV6Address:|IPV6NetworkMaskPrefixLength: 0|"
          "HardwareAddress: 0a:00:27:00:00:00|MediumType: Ethernet|Status: Up|"
          "VBoxNetworkName: HostInterfaceNetworking-vboxnet0|".replace("|", chr(10)))
    sys.exit(0)
if args[:2] == ["list", "systemproperties"]:
    print("Default machine folder:          " + os.path.dirname(path))
    sys.exit(0)
if args[:1] == ["list"]:
    sys.exit(0)
if args[:1] == ["showvminfo"] and args[1] in vms:
    vm = vms[args[1]]
    print('name="%s"|UUID="%s"|VMState="%s"|nic1="nat"|nic2="hostonly"|hostonlyadapter2="vboxnet0"'
          .replace("|", chr(10)) % (vm["name"], args[1], vm["state"]))
    sys.exit(0)
if args[:1] == ["controlvm"] and args[1] in vms and args[2] == "poweroff":
    vms[args[1]]["state"] = "poweroff"
    save()
    sys.exit(0)
if args[:1] == ["startvm"] and args[1] in vms:
    # a VM that cannot boot on this host: VirtualBox reports it aborted right away
    vms[args[1]]["state"] = "aborted"
    save()
    sys.exit(0)
if args[:1] in (["modifyvm"], ["hostonlyif"], ["setextradata"], ["getextradata"], ["sharedfolder"],
                ["guestproperty"], ["storageattach"]) and (len(args) < 2 or args[1] in vms or args[0] == "hostonlyif"):
    sys.exit(0)  # settings of a VM that exists: accepted
sys.stderr.write("VBoxManage: error: the fake VirtualBox cannot " + " ".join(args) + "\\n")
sys.exit(1)
"""

UUIDS = {"cp1": "11111111-0000-0000-0000-000000000001", "cp2": "11111111-0000-0000-0000-000000000002",
         "w1": "11111111-0000-0000-0000-000000000003", "w2": "11111111-0000-0000-0000-000000000004"}


@pytest.fixture
def made_cluster(request, tmp_path: Path, fake_tools, monkeypatch: pytest.MonkeyPatch) -> Context:  # type: ignore[no-untyped-def]
    """A standard-profile cluster `up` made earlier: four VMs known to Vagrant and the fake VirtualBox, running
    (or in the state the test parametrizes)."""
    initial = getattr(request, "param", "running")
    vms = tmp_path / "vms.json"
    vms.write_text(json.dumps({u: {"name": f"devcluster-{n}", "state": initial} for n, u in UUIDS.items()}))
    monkeypatch.setenv("FAKE_VBOX_VMS", str(vms))
    manifest = isolated_vagrant(tmp_path, fake_tools, monkeypatch, FAKE_VBOXMANAGE)
    cfg = config.load(None, {"provider": "vagrant", "vagrant.retries": 2, "vagrant.flannel_manifest": str(manifest),
                             "vagrant.up_timeout": 120,
                             # the registry's containers (on by default) are docker's: test_registry_vagrant.py
                             "registry.enabled": False, "registry.mirrors.enabled": False})
    state = State(cfg.state_path)
    provider = vp.VagrantProvider(cfg, state, host_seams(tmp_path))
    ctx = Context(cfg, state, Console(quiet=True, width=200), provider)
    state.root.mkdir(parents=True)
    state.write_json("vagrant.json", provider.settings())
    download = provider.distribution.vm_download  # the Flannel manifest the vagrant-config step fetched
    assert download is not None
    download.path.write_text(manifest.read_text())
    for node, uuid in UUIDS.items():
        machine = state.path(".vagrant") / "machines" / node / "virtualbox"
        machine.mkdir(parents=True)
        (machine / "id").write_text(uuid)
    return ctx


def vbox(fake_tools, verb: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The VMs (by node name) Vagrant asked the fake VirtualBox to `verb`, in order."""
    names = {u: n for n, u in UUIDS.items()}
    return [names[c["argv"][1]] for c in fake_tools.calls("VBoxManage") if c["argv"][:1] == [verb]]


def test_stop_halts_workers_first_and_status_says_stopped_real_vagrant_fake_vboxmanage(
        made_cluster: Context, fake_tools) -> None:  # type: ignore[no-untyped-def]
    ctx = made_cluster
    life = ctx.provider.lifecycle()
    assert life.power_state() == "running"
    outcomes = execute(life.stop_steps(), ctx)
    assert [(o.name, o.status) for o in outcomes] == [("halt-vms", "ran")]
    assert vbox(fake_tools, "controlvm") == ["w2", "w1", "cp2", "cp1"]
    assert life.power_state() == "stopped"
    assert execute(life.stop_steps(), ctx)[0].status == "done"
    from devcluster.reports.status import gather

    data = gather(ctx)
    assert data["state"] == "stopped" and data["reachable"] is False
    assert "devcluster start" in data["detail"]


@pytest.mark.parametrize("made_cluster", ["poweroff"], indirect=True)
def test_start_boots_control_planes_first_and_never_destroys_a_vm_that_fails_real_vagrant(
        made_cluster: Context, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """The fake VirtualBox cannot boot a VM (it is `aborted` at once): Vagrant reports it, devcluster powers
    it off and tries again (vagrant.retries 2), then says so, with the way out: recreate."""
    ctx = made_cluster
    life = ctx.provider.lifecycle()
    with pytest.raises(StepError) as err:
        execute(life.start_steps(), ctx)
    assert "VM cp1 did not start in 2 tries" in err.value.message, err.value
    assert "devcluster down, then devcluster up" in (err.value.hint or "")
    assert vbox(fake_tools, "startvm") == ["cp1", "cp1"], "cp1 first, tried twice, nothing else before it"
    calls = [c["argv"][0] for c in fake_tools.calls("VBoxManage")]
    assert "unregistervm" not in calls, "a VM holding the cluster's etcd data is never destroyed"
    assert not [c for c in fake_tools.calls("VBoxManage") if "--provision" in c["argv"]]


@pytest.mark.parametrize("made_cluster", ["poweroff"], indirect=True)
def test_up_on_a_halted_cluster_starts_its_vms_without_provisioning_or_destroying_real_vagrant(
        made_cluster: Context, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """`up`'s vm-cp1 step on a cluster `stop` halted: `vagrant up --no-provision`, retried by powering off,
    never the first boot's destroy-and-recreate (the fake VirtualBox cannot boot, so it ends in an error)."""
    from devcluster.plan import up_steps

    ctx = made_cluster
    steps = up_steps(ctx.config, ctx.provider)
    until = [s.name for s in steps].index("vm-cp1") + 1
    with pytest.raises(StepError) as err:
        execute(steps[:until], ctx)
    assert err.value.message.startswith("step 'vm-cp1' failed: VM cp1 did not start in 2 tries"), err.value
    assert vbox(fake_tools, "startvm") == ["cp1", "cp1"]
    calls = [c["argv"][0] for c in fake_tools.calls("VBoxManage")]
    assert "unregistervm" not in calls and "import" not in calls


def test_stop_and_start_before_any_up_refuse_without_running_vagrant(tmp_path: Path) -> None:
    """No vagrant.json: Vagrant could not load the Vagrantfile, so it is not asked at all."""
    from typer.testing import CliRunner

    from devcluster.cli import app

    for verb in ("stop", "start"):
        result = CliRunner().invoke(app, [verb, "--provider", "vagrant"])
        assert result.exit_code == 1 and "no Vagrant cluster 'devcluster'" in result.exception.message
