"""Stack commands: `stack install|uninstall|status`, `secrets`, `e2e`, `logs --collect`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from devcluster.cli.common import (
    BackendTagOpt,
    ConfigOpt,
    ContextOpt,
    FrontendTagOpt,
    ImageTagOpt,
    KubeconfigOpt,
    ProviderOpt,
    WaitLockOpt,
    YesOpt,
    app,
    changing,
    command_line,
    console,
    image_tag_overrides,
    open_context,
    out,
)
from devcluster.cli.lifecycle import OutputOpt, event_output
from devcluster.errors import ConfigError, DevclusterError

stack_app = typer.Typer(help="Install, remove or inspect the stack (Forail + operator by default).\n\n"
    "Examples:\n\n"
    "  devcluster stack install\n\n"
    "  devcluster stack status -o json\n\n"
    "  devcluster stack uninstall",
                        no_args_is_help=True, rich_markup_mode="rich")
app.add_typer(stack_app, name="stack")


@stack_app.command("install")
def stack_install(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
                  context: ContextOpt = None,
                  yes: Annotated[bool, typer.Option("--yes", "-y", help="Install into a non-local existing cluster.")]
                  = False,
                  wait_lock: WaitLockOpt = 0.0, image_tag: ImageTagOpt = None,
                  backend_tag: BackendTagOpt = None, frontend_tag: FrontendTagOpt = None,
                  start_from: Annotated[str | None, typer.Option(
                      "--from", help="Resume at this step (the failure message names it).")] = None,
                  output: OutputOpt = "text") -> None:
    """Install (or bring up to date) the stack releases on a cluster that has its prerequisites.

    Only releases whose inputs changed are upgraded: after editing a chart in a sibling checkout
    (../forail-helm, ../forail-operator/helm) just that release is; with nothing changed, nothing is.

    Examples:

      devcluster stack install --kubeconfig ./kubeconfig --yes

      devcluster image load forail-backend:dev forail-frontend:dev && devcluster stack install --image-tag dev

      devcluster stack install --frontend-tag dev    # only the frontend was rebuilt
    """
    from devcluster.engine.steps import execute
    from devcluster.plan import stack_install_steps

    overrides, tag_args = image_tag_overrides(image_tag, backend_tag, frontend_tag)
    resume = command_line(["stack", "install"], config_file, provider, kubeconfig, context, yes, tag_args)
    ctx = open_context(config_file, provider, kubeconfig, context, assume_yes=yes, resume_command=resume,
                       extra=overrides, connects=True)
    observer, _ = event_output(ctx, output, "stack install")
    steps = stack_install_steps(ctx.config, ctx.provider)
    with changing(ctx, wait_lock):
        execute(steps, ctx, start_from, observer=observer)


@stack_app.command("uninstall")
def stack_uninstall(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
                    context: ContextOpt = None, wait_lock: WaitLockOpt = 0.0, yes: YesOpt = False,
                    all_crs: Annotated[bool, typer.Option(
                        "--all-crs", help="Delete every custom resource of the operator's group in the stack's "
                        "namespaces first, not only devcluster's own.")] = False) -> None:
    """Delete the operator's custom resources while it still runs, wait for their finalizers, then helm
    uninstall every stack release, last first. Generated secrets are kept.

    A resource still held by its finalizer after timeouts.rollout is reported by name and the releases are
    left installed (the operator must finish it); finalizers are never stripped.

    Examples:

      devcluster stack uninstall

      devcluster stack uninstall --all-crs     # also the CRs you made yourself
    """
    from devcluster.stages.stack import uninstall

    ctx = open_context(config_file, provider, kubeconfig, context, assume_yes=yes, connects=True)
    with changing(ctx, wait_lock):
        deleted, removed = uninstall(ctx, all_crs=all_crs)
    if deleted:
        console.print("deleted and finalized: " + ", ".join(deleted))
    console.print("uninstalled: " + (", ".join(removed) or "nothing was installed"))


@stack_app.command("verify")
def stack_verify(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
                 context: ContextOpt = None, wait_lock: WaitLockOpt = 0.0, yes: YesOpt = False,
                 job: Annotated[bool, typer.Option(
                     "--job", help="Launch the verify job again even though this set of releases passed it.")]
                 = False) -> None:
    """Check that the stack works: ping through the ingress, the operator's CRDs and sample Inventory, and a
    job launched through Forail's API that ends `successful` (once per set of releases unless --job).

    Examples:

      devcluster stack verify

      devcluster stack verify --job    # launch the demo job again
    """
    from devcluster.engine.steps import execute
    from devcluster.plan import verify_steps
    from devcluster.stages import job_check

    ctx = open_context(config_file, provider, kubeconfig, context, assume_yes=yes, connects=True,
                       resume_command=command_line(["stack", "verify"], config_file, provider, kubeconfig, context,
                                                   yes))
    with changing(ctx, wait_lock):
        if job:
            job_check.forget(ctx)
        execute(verify_steps(ctx.config, ctx.provider), ctx)


@stack_app.command("status")
def stack_status(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
                 context: ContextOpt = None,
                 output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
                 yes: YesOpt = False) -> None:
    """Each stack release: helm status, revision, chart, and workload readiness.

    Example: devcluster stack status -o json
    """
    from rich.table import Table

    from devcluster.reports.stack_status import gather, healthy

    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=True, assume_yes=yes, connects=True)
    rows = gather(ctx)
    if output == "json":
        out(json.dumps(rows, indent=2))
    else:
        t = Table("release", "namespace", "status", "revision", "chart", "ready", "detail")
        for r in rows:
            t.add_row(r["release"], r["namespace"], r["status"], str(r["revision"] or ""), r["chart"],
                      "yes" if r["ready"] else "[red]no[/red]", r["detail"])
        console.print(t)
    if not healthy(rows):
        raise typer.Exit(1)


@app.command("secrets")
def show_secrets(config_file: ConfigOpt = None,
                 output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table") -> None:
    """Print the generated stack secrets and the operator token (they are never printed elsewhere).

    Example: devcluster secrets -o json | jq -r .forailAdminPassword
    """
    from devcluster.local import secrets as secrets_store

    ctx = open_context(config_file, dry_run=True)
    cfg = ctx.config
    if not secrets_store.exists(ctx.state):
        raise DevclusterError("no secrets generated yet", "run `devcluster up` first")
    data = dict(secrets_store.in_use(ctx.state, cfg.stack.admin_password_env) or {})
    if cfg.stack.admin_password_env and os.environ.get(cfg.stack.admin_password_env):
        data["adminPasswordFrom"] = f"${cfg.stack.admin_password_env}"
    token = secrets_store.stored_token(ctx.state, cfg.stack.token_env)
    if token:
        data["operatorToken"] = token
    data["adminUser"] = cfg.stack.admin_user
    if output == "json":
        out(json.dumps(data, indent=2))
    else:
        for k, v in data.items():
            out(f"{k}: {v}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def e2e(
    ctx_: typer.Context,
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    junitxml: Annotated[Path | None, typer.Option("--junitxml", help="Write a JUnit XML report here.")] = None,
    yes: YesOpt = False,
) -> None:
    """Run the packaged end-to-end suite against the current cluster; extra args go to pytest.

    Example: devcluster e2e --junitxml e2e.xml -- -k ingress
    """
    from devcluster.clients.kube import Kube
    from devcluster.reports.e2e import e2e_env
    from devcluster.suites import run_suite

    c = open_context(config_file, provider, kubeconfig, context, dry_run=True, assume_yes=yes, connects=True)
    cfg = c.config
    ok, detail = Kube(c.provider.access()).reachable()
    if not ok:
        if junitxml is not None:
            write_unreachable_junit(junitxml, detail)
        raise DevclusterError(f"cluster {cfg.name!r} ({cfg.provider}) is not reachable, so no test ran: {detail}",
                              "devcluster status; devcluster up")
    env = {**e2e_env(c), "DEVCLUSTER_E2E_REQUIRE_CLUSTER": "1"}
    raise typer.Exit(run_suite("e2e", [a for a in ctx_.args if a != "--"], env, junitxml))


def write_unreachable_junit(path: Path, detail: str) -> None:
    """One failed case instead of an empty report: CI's test view then says why nothing ran."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name="devcluster-e2e", tests="1", failures="1", errors="0", skipped="0")
    case = ET.SubElement(suite, "testcase", classname="devcluster", name="cluster_is_reachable")
    ET.SubElement(case, "failure", message=f"cluster not reachable: {detail}").text = detail
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="unicode")


@app.command()
def logs(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
         context: ContextOpt = None,
         collect: Annotated[Path, typer.Option("--collect", help="Directory for the tarball.")] = Path("."),
         yes: YesOpt = False,
         ) -> None:
    """Collect pods' logs, events, descriptions, helm status, node info and the VMs' serial consoles and
    VBox.log tails (vagrant) into a tarball (CI artifacts); works when the cluster is unreachable too.

    Example: devcluster logs --collect ./artifacts
    """
    from devcluster.clients.diagnostics import DEFAULT_NAMESPACES
    from devcluster.clients.diagnostics import collect as do_collect
    from devcluster.stages.releases import helm_for

    if collect.exists() and not collect.is_dir():
        raise ConfigError(f"--collect {collect}: is not a directory", "give the directory the tarball goes into")
    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=True, assume_yes=yes, connects=True)
    cfg = ctx.config
    helm = helm_for(ctx)
    try:
        releases = helm.list_releases()
    except DevclusterError as exc:
        console.print(f"helm: {exc.message}")
        releases = []
    namespaces = tuple(dict.fromkeys([cfg.namespace, *(r.namespace for r in cfg.stack.releases),
                                      cfg.addons.traefik.namespace, *DEFAULT_NAMESPACES]))
    tarball = do_collect(ctx.kube, collect, namespaces, releases, helm.status, ctx.provider.collect_host_logs)
    console.print(f"wrote {tarball}")
