"""The cluster's life: `up`, `plan`, `down`, `status`, `doctor`, `kubeconfig`, `config`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    err_console,
    escape,
    image_tag_overrides,
    load_config,
    open_context,
    out,
)
from devcluster.cli.lifecycle import KubernetesVersionOpt, OutputOpt, event_output
from devcluster.errors import ConfigError, DevclusterError

if TYPE_CHECKING:
    from devcluster import config


@app.command()
def up(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the steps; check and change nothing.")] = False,
    start_from: Annotated[str | None, typer.Option("--from", help="Resume at this step (see `devcluster plan`).")]
    = None,
    skip_stack: Annotated[bool, typer.Option("--skip-stack", help="Stop after the cluster prerequisites.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Install into a non-local existing cluster.")] = False,
    wait_lock: WaitLockOpt = 0.0,
    image_tag: ImageTagOpt = None,
    backend_tag: BackendTagOpt = None,
    frontend_tag: FrontendTagOpt = None,
    kubernetes_version: KubernetesVersionOpt = None,
    output: OutputOpt = "text",
) -> None:
    """Create the cluster (or use an existing one), install prerequisites and the stack.

    Every step checks first and only does work that is missing, so re-running
    `up` on a ready cluster just verifies it.

    Examples:

      devcluster up --provider kind

      devcluster up --provider existing --kubeconfig ~/.kube/config --context kind-dev --skip-stack

      devcluster up --dry-run          # show the plan, touch nothing

      devcluster up --from traefik     # resume after fixing a failure

      devcluster up --backend-tag dev  # a backend build loaded with `devcluster image load`

      devcluster up --kubernetes-version 1.33 --output json   # JSON Lines events on stdout
    """
    from devcluster.engine.steps import execute
    from devcluster.plan import up_steps

    overrides, tag_args = image_tag_overrides(image_tag, backend_tag, frontend_tag)
    overrides["kubernetes_version"] = kubernetes_version
    extra = (["--skip-stack"] if skip_stack else []) + tag_args
    extra += ["--kubernetes-version", kubernetes_version] if kubernetes_version else []
    resume = command_line(["up"], config_file, provider, kubeconfig, context, yes, extra)
    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=dry_run, assume_yes=yes,
                       resume_command=resume, extra=overrides, connects=not dry_run)
    cfg = ctx.config
    observer, human = event_output(ctx, output, "up")
    steps = up_steps(cfg, ctx.provider, skip_stack=skip_stack)
    if dry_run:
        execute(steps, ctx, start_from, observer=observer)
        return
    with changing(ctx, wait_lock):
        outcomes = execute(steps, ctx, start_from, observer=observer)
    ran = sum(1 for o in outcomes if o.status == "ran")
    seconds = sum(o.seconds for o in outcomes)
    human.print(f"[bold green]cluster {cfg.name!r} is ready[/bold green] "
                  f"({ran} step(s) did work, {len(outcomes) - ran} already done, {seconds:.0f}s)")
    human.print(f"  export KUBECONFIG={escape(str(ctx.provider.access().kubeconfig or '~/.kube/config'))}",
                  soft_wrap=True)
    for line in platform_urls(cfg):
        human.print(f"  {line}", soft_wrap=True)


def platform_urls(cfg: config.Config) -> list[str]:
    """https first: the session cookie is Secure unless stack.http_login, so an http login keeps no session."""
    https = f"https://{cfg.hostname}:{cfg.node_ports.https}/"
    http = f"http://{cfg.hostname}:{cfg.node_ports.http}/"
    if cfg.stack.http_login:
        return [https, f"{http}  (login over http works: stack.http_login)"]
    return [https, f"{http}  (no login over http: the session cookie is Secure; stack.http_login: true allows it)"]


@app.command()
def plan(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
         context: ContextOpt = None,
         skip_stack: Annotated[bool, typer.Option("--skip-stack", help="Leave out the stack's steps.")] = False,
         ) -> None:
    """List the ordered steps `up` runs for the chosen provider, with what each does.

    Example: devcluster plan --provider vagrant
    """
    from devcluster.engine.steps import plan_table
    from devcluster.plan import up_steps

    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=True)
    cfg = ctx.config
    console.print(plan_table(up_steps(cfg, ctx.provider, skip_stack), f"{cfg.provider}: {cfg.name}"))


@app.command()
def down(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the state dir (generated secrets too).")]
    = False,
    purge_registry: Annotated[bool, typer.Option(
        "--purge-registry", help="Also remove the local registry and the caches with their volumes (shared by "
        "every cluster on this machine).")] = False,
    wait_lock: WaitLockOpt = 0.0,
    output: OutputOpt = "text",
) -> None:
    """Delete the cluster and remove its /etc/hosts block.

    Each part is removed on its own: when one fails (kind is missing, say), the rest is still removed
    and the failures are listed at the end (exit 1).

    For `existing` clusters only the hosts block is removed; use
    `devcluster stack uninstall` for the releases. The local registry and the caches are
    shared by every cluster on this machine and kept, unless `--purge-registry`.

    Example: devcluster down --purge

    Example: devcluster down --purge-registry
    """
    from devcluster.stages import teardown

    ctx = open_context(config_file, provider, kubeconfig, context,
                       resume_command=command_line(["down"], config_file, provider, kubeconfig, context))
    observer, human = event_output(ctx, output, "down")
    with changing(ctx, wait_lock):
        result = teardown.take_down(ctx, observer, purge_registry=purge_registry)
    if purge:
        teardown.purge(ctx, result, observer)
    for line in result.done:
        human.print(escape(line))
    for problem in result.problems:
        err_console.print(f"[bold red]not done:[/bold red] {escape(problem)}", highlight=False)
    if result.problems:
        raise typer.Exit(1)


@app.command()
def status(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    yes: YesOpt = False,
) -> None:
    """Show nodes, prerequisite health, the local registry and caches, and the hosts entry; exits 1 when the
    cluster cannot be reached.

    Example: devcluster status --output json | jq .nodes
    """
    from devcluster.reports.status import gather

    if output not in ("table", "json"):
        raise ConfigError(f"--output {output}: expected table or json")
    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=True, assume_yes=yes, connects=True)
    data = gather(ctx)
    if output == "json":
        out(json.dumps(data, indent=2, default=str))
    else:
        _print_status(data)
    if not data["reachable"]:
        raise typer.Exit(1)


def _print_status(data: dict[str, Any]) -> None:
    from rich.table import Table

    if data["reachable"]:
        console.print(f"cluster [bold]{escape(data['cluster'])}[/bold] ({data['provider']}): reachable, "
                      f"Kubernetes {escape(str(data.get('detail', '')))}")
    else:
        err_console.print(f"cluster [bold]{escape(data['cluster'])}[/bold] ({data['provider']}) is not reachable: "
                          f"{escape(str(data.get('detail', '')))}", highlight=False)
    if data.get("vms"):
        t = Table("vm", "role", "address", "state")
        for vm in data["vms"]:
            t.add_row(vm["name"], vm["role"], vm["ip"], vm["state"])
        console.print(t)
    if data.get("nodes"):
        t = Table("node", "ready", "roles", "internal ip", "version")
        for n in data["nodes"]:
            t.add_row(n["name"], "yes" if n["ready"] else "[red]no[/red]", ",".join(n["roles"]),
                      n["internal_ip"], n["version"])
        console.print(t)
    if data.get("prerequisites"):
        t = Table("prerequisite", "ok", "detail")
        for k, v in data["prerequisites"].items():
            t.add_row(k, "yes" if v["ok"] else "[red]no[/red]", escape(str(v["detail"])))
        console.print(t)
    registry = data.get("registry") or {}
    if registry.get("containers"):
        t = Table("registry", "role", "state", "address", "storage", "disk")
        for c in registry["containers"]:
            state = c["state"] if c["state"] == "running" else f"[red]{escape(c['state'])}[/red]"
            t.add_row(c["name"], c["role"], state, escape(c["address"]), escape(c["storage"]), c["disk"])
        console.print(t)
    if registry.get("error"):
        err_console.print(f"registry: {escape(registry['error'])}", highlight=False)
    if registry.get("advertised"):
        console.print(f"registry advertised to the cluster (kube-public/local-registry-hosting): "
                      f"{escape(registry['advertised'])}")
    entries = data["hosts"]["entries"]
    console.print(f"hosts ({data['hosts']['file']}): " +
                  (", ".join(f"{e['ip']} {' '.join(e['hostnames'])}" for e in entries) or "no entry"))


@app.command()
def doctor(config_file: ConfigOpt = None, provider: ProviderOpt = None) -> None:
    """Check the tools the chosen provider needs (with versions) and the host setup.

    Exits 1 when something needs fixing; each problem's fix is printed in full below the table.
    Versions outside the supported skew (kubectl 1.29-1.31 and helm 3.15-3.18 for Kubernetes 1.30)
    are warnings; `scripts/install-tools.sh` installs the pinned ones.

    Example: devcluster doctor --provider vagrant
    """
    from rich.table import Table

    from devcluster.reports.doctor import run_doctor

    ctx = open_context(config_file, provider, dry_run=True)
    findings = run_doctor(ctx.config, ctx.provider)
    marks = {"ok": "[green]yes[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]no[/red]"}
    t = Table("check", "ok", "detail")
    for f in findings:
        t.add_row(f.what, marks[f.level], escape(f.detail))
    console.print(t)
    fixes = [f for f in findings if f.level != "ok" and f.fix]
    if fixes:
        console.print("to fix:")
        for f in fixes:
            console.print(f"  {f.what}: {escape(f.fix)}", soft_wrap=True)
    if any(f.level == "fail" for f in findings):
        raise typer.Exit(1)


@app.command("kubeconfig")
def kubeconfig_cmd(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    merge: Annotated[bool, typer.Option("--merge", help="Merge the context into ~/.kube/config (backup kept).")]
    = False,
    use: Annotated[bool, typer.Option("--use", help="With --merge: also make it the current context.")] = False,
    into: Annotated[Path, typer.Option("--into", help="Kubeconfig to merge into.")] = Path("~/.kube/config"),
) -> None:
    """Print the path of the cluster's kubeconfig, or merge its context into yours.

    Examples:

      export KUBECONFIG=$(devcluster kubeconfig)

      devcluster kubeconfig --merge --use      # then: kubectl get nodes
    """
    from devcluster.clients.kubeconfigs import kubeconfig_location, merge_into

    ctx = open_context(config_file, provider, dry_run=True)
    cfg_kc = ctx.provider.access().kubeconfig
    kc = kubeconfig_location(cfg_kc)  # none given: the one every client reads ($KUBECONFIG, ~/.kube/config)
    if not kc.is_file():
        raise DevclusterError(f"no kubeconfig at {kc}", "run `devcluster up` first" if cfg_kc else
                              "with no existing.kubeconfig in devcluster.yaml, $KUBECONFIG or ~/.kube/config is used")
    if not merge:
        out(str(kc))
        return
    dest = into.expanduser()
    backup = merge_into(kc, dest, use_context=use)
    console.print(f"merged {ctx.provider.access().context or 'the context'} into {dest}"
                  + (f" (backup: {backup})" if backup else ""))


@app.command("config")
def show_config(config_file: ConfigOpt = None, provider: ProviderOpt = None) -> None:
    """Print the effective configuration (defaults + ./devcluster.yaml + options) as YAML.

    Example (start a config file): devcluster config > devcluster.yaml
    """
    import yaml

    from devcluster import config
    from devcluster.stages.stack import job_execution

    cfg = load_config(config_file, provider)
    out(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
    forail = cfg.stack.release_of_kind("forail")
    if forail is not None:
        execution = job_execution(cfg, forail)
        out(f"# stack.job_execution {cfg.stack.job_execution} -> {'podman' if execution.podman else 'pods'}: "
            f"{execution.label}; {execution.reason}")
