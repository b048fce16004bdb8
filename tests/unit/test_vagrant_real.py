"""The real Debian `vagrant` running devcluster's Vagrantfile, with VirtualBox faked beneath it.

VirtualBox cannot run here, so `VBoxManage` is a recording fake executable on PATH: it answers the
questions Vagrant's virtualbox provider asks before it touches a VM (`--version`, `list ...`) and
refuses everything that would make one (import, createvm, ...). The box Vagrant adds is a tiny local
.box file behind a local metadata JSON, so no packet leaves the machine (VAGRANT_HOME is per test, the
checkpoint update check is off).
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from rich.console import Console

from devcluster import config
from devcluster.engine.steps import Context, execute
from devcluster.errors import StepError
from devcluster.local.state import State
from devcluster.plan import up_steps
from devcluster.providers import vagrant as vp

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="Debian's vagrant is not installed")

BOX = "devcluster-test/fake"
BOX_VERSION = "1.0.0"

# Answers what Vagrant's virtualbox provider asks to detect VirtualBox and read the host's networks;
# everything that would create or change a VM fails like a VirtualBox that cannot run here.
FAKE_VBOXMANAGE = """
args = sys.argv[1:]
if args == ["--version"]:
    print("7.0.20r163906")
    sys.exit(0)
if args[:1] == ["list"]:
    sys.exit(0)
sys.stderr.write("VBoxManage: error: the fake VirtualBox cannot " + " ".join(args) + "\\n")
sys.exit(1)
"""


def local_box(tmp_path: Path) -> str:
    """A .box with just what `vagrant box add` unpacks, behind versioned metadata (box_version needs it)."""
    src = tmp_path / "box-src"
    src.mkdir()
    (src / "metadata.json").write_text(json.dumps({"provider": "virtualbox"}))
    (src / "box.ovf").write_text("<?xml version='1.0'?><Envelope/>\n")
    box = tmp_path / "fake.box"
    with tarfile.open(box, "w:gz") as tar:
        for f in src.iterdir():
            tar.add(f, arcname=f.name)
    meta = tmp_path / "box-metadata.json"
    meta.write_text(json.dumps({"name": BOX, "versions": [{"version": BOX_VERSION, "providers": [
        {"name": "virtualbox", "url": box.as_uri()}]}]}))
    return meta.as_uri()


def isolated_vagrant(tmp_path: Path, fake_tools, monkeypatch: pytest.MonkeyPatch, vboxmanage: str) -> Path:  # type: ignore[no-untyped-def]
    """The real vagrant kept off the network and the user's ~/.vagrant.d, with ``vboxmanage`` as the fake
    VirtualBox; returns a local Flannel manifest for vagrant.flannel_manifest."""
    fake_tools.add("VBoxManage", vboxmanage)
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant-home"))
    monkeypatch.setenv("VAGRANT_CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("VAGRANT_DEFAULT_PROVIDER", "virtualbox")
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("kind: List\n")
    return manifest


def host_seams(tmp_path: Path) -> vp.HostSeams:
    """A host with room for every VM, an unrestricted host-only range and no KVM/libvirtd."""
    return vp.HostSeams(networks_conf=tmp_path / "no-networks.conf", memory_mib=lambda: 64 * 1024,
                        proc_modules=tmp_path / "no-proc-modules", libvirtd_active=lambda: False)


@pytest.fixture
def real_vagrant(tmp_path: Path, fake_tools, monkeypatch: pytest.MonkeyPatch) -> Context:  # type: ignore[no-untyped-def]
    manifest = isolated_vagrant(tmp_path, fake_tools, monkeypatch, FAKE_VBOXMANAGE)
    cfg = config.load(None, {
        "provider": "vagrant", "vagrant.profile": "single", "vagrant.retries": 1,
        "vagrant.box": BOX, "vagrant.box_version": BOX_VERSION, "vagrant.box_url": local_box(tmp_path),
        "vagrant.flannel_manifest": str(manifest), "vagrant.up_timeout": 120,
        # the registry's containers (on by default) are docker's: test_registry_vagrant.py covers them
        "registry.enabled": False, "registry.mirrors.enabled": False})
    state = State(cfg.state_path)
    return Context(cfg, state, Console(quiet=True, width=200), vp.VagrantProvider(cfg, state, host_seams(tmp_path)))


def test_first_up_on_a_new_cluster_gets_past_preflight_to_vagrant_up_real_vagrant_fake_vboxmanage(
        real_vagrant: Context, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Issue 16.1: preflight asked `vagrant status` before `vagrant.json` existed and the Vagrantfile died
    reading it (Errno::ENOENT), so the first `up` of every new cluster failed."""
    ctx = real_vagrant
    assert not ctx.state.root.exists()
    with pytest.raises(StepError) as err:
        execute(up_steps(ctx.config, ctx.provider), ctx)
    assert err.value.message.startswith("step 'vm-cp1' failed"), err.value
    settings = json.loads(ctx.state.path("vagrant.json").read_text())
    assert [n["name"] for n in settings["nodes"]] == ["cp1"]
    vbox = [c["argv"] for c in fake_tools.calls("VBoxManage")]
    assert ["--version"] in vbox, "Vagrant detected VirtualBox through the fake"
    imports = [a for a in vbox if a[0] == "import"]
    assert imports and imports[0][-1].endswith("/boxes/devcluster-test-VAGRANTSLASH-fake/1.0.0/virtualbox/box.ovf"), \
        "`vagrant up cp1` added the box and asked VirtualBox to import it"


def test_vagrant_failing_is_not_explained_as_vagrant_missing_real_vagrant(real_vagrant: Context) -> None:
    """Issue 16.1: Vagrant that runs but fails (here: it cannot load the Vagrantfile's settings) got the
    hint "install Vagrant"; the hint must point at what failed."""
    ctx = real_vagrant
    ctx.state.root.mkdir(parents=True)
    ctx.provider.settings_path.write_text("{not json")
    with pytest.raises(StepError) as err:
        execute(ctx.provider.cluster_steps()[:1], ctx)
    assert "install Vagrant" not in str(err.value)
    assert "Vagrantfile" in (err.value.hint or "") and str(ctx.provider.settings_path) in (err.value.hint or "")
