"""Node commands: `ssh`, `snapshot save|restore`, `image load`, `check nodes`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from devcluster.cli.common import ConfigOpt, app, console, open_context

if TYPE_CHECKING:
    from devcluster.engine.steps import Context

snapshot_app = typer.Typer(help="Save or restore a snapshot of every VM (vagrant provider).\n\n"
    "Examples:\n\n"
    "  devcluster snapshot save clean-stack\n\n"
    "  devcluster snapshot restore clean-stack", no_args_is_help=True)
check_app = typer.Typer(help="Checks of the running cluster.\n\n"
    "Example:\n\n"
    "  devcluster check nodes --junitxml nodes.xml", no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(check_app, name="check")


def _vagrant_ctx(config_file: Path | None) -> Context:
    return open_context(config_file, "vagrant", dry_run=True)


@app.command()
def ssh(node: Annotated[str, typer.Argument(help="cp1, cp2, w1, ...")], config_file: ConfigOpt = None) -> None:
    """Open a shell on a VM (vagrant provider).

    Example: devcluster ssh cp1
    """
    ctx = _vagrant_ctx(config_file)
    raise typer.Exit(ctx.provider.ssh_interactive(node))


image_app = typer.Typer(help="Locally built images into the cluster's nodes.\n\n"
    "Example:\n\n"
    "  devcluster image load forail-backend:dev", no_args_is_help=True)
app.add_typer(image_app, name="image")


@image_app.command("load")
def image_load(
    images: Annotated[list[str], typer.Argument(help="Images in this machine's Docker, e.g. forail-backend:dev.")],
    config_file: ConfigOpt = None,
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="kind | vagrant")] = None,
) -> None:
    """Load locally built images into the cluster, so pods use them without pulling from the internet.

    With `registry.enabled`: tagged localhost:<port>/<path> and pushed to the local registry (only the
    layers it lacks travel; an unchanged image sends nothing), and `stack install --image-tag TAG` then
    points the Forail images at it. Without it, kind: `docker save` then `kind load image-archive`, only
    into nodes that lack the image; vagrant: `docker save` streamed over SSH into each VM's containerd.
    An existing cluster's nodes are not ours to reach: push instead. Tag the build with the chart's
    repository, then install with that tag (`--image-tag` also sets pullPolicy IfNotPresent).

    Example:

      docker build -t ghcr.io/forail-platform/forail-backend:dev .

      devcluster image load ghcr.io/forail-platform/forail-backend:dev

      devcluster stack install --image-tag dev
    """
    ctx = open_context(config_file, provider, dry_run=True)
    nodes = ctx.provider.load_images(ctx, images)
    console.print(f"loaded {', '.join(images)} into {len(nodes)} node(s): {', '.join(nodes)}")


@snapshot_app.command("save")
def snapshot_save(name: str, config_file: ConfigOpt = None) -> None:
    """Snapshot every VM as NAME (vagrant snapshot save).

    Example: devcluster snapshot save clean-stack
    """
    ctx = _vagrant_ctx(config_file)
    ctx.provider.snapshot("save", name, ctx)
    console.print(f"saved snapshot {name} of every VM")


@snapshot_app.command("restore")
def snapshot_restore(name: str, config_file: ConfigOpt = None) -> None:
    """Reset every VM to snapshot NAME: the fast way back to a known cluster.

    Example: devcluster snapshot restore clean-stack
    """
    ctx = _vagrant_ctx(config_file)
    ctx.provider.snapshot("restore", name, ctx)
    console.print(f"restored snapshot {name}; run `devcluster status` to see the nodes come back")


@check_app.command("nodes", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def check_nodes(
    ctx_: typer.Context,
    config_file: ConfigOpt = None,
    provider: Annotated[str | None, typer.Option("--provider", "-p")] = None,
    junitxml: Annotated[Path | None, typer.Option("--junitxml", help="Write a JUnit XML report here.")] = None,
) -> None:
    """Run the testinfra node checks on every node (SSH for Vagrant VMs, docker for kind nodes).

    Checks containerd/kubelet, swap, br_netfilter, ip_forward, eth1 = InternalIP and Flannel on eth1
    (Vagrant), the API server port on control planes, and that the hostname resolves on this machine.

    Example: devcluster check nodes --junitxml nodes.xml
    """
    from devcluster.clients.kubeconfigs import KUBECONFIG_HINT
    from devcluster.errors import DevclusterError
    from devcluster.reports.nodecheck import run_checks

    ctx = open_context(config_file, provider, dry_run=True, connects=True)
    try:
        code = run_checks(ctx, junitxml, [a for a in ctx_.args if a != "--"])
    except DevclusterError as exc:
        if exc.hint == KUBECONFIG_HINT:  # it names --kubeconfig/--context, which check nodes does not have
            exc.hint = (f"create the cluster with `devcluster up --provider {ctx.provider.name}`; check nodes "
                        "checks the cluster of --config and --provider")
        raise
    raise typer.Exit(code)
