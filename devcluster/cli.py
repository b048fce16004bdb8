"""The `devcluster` command line.

Commands only parse options, build the config and hand over to the modules
that do the work; every DevclusterError is printed with its hint and turned
into an exit code (2 for bad input, 1 otherwise) instead of a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from devcluster import __version__, config, hosts
from devcluster.errors import ConfigError, DevclusterError
from devcluster.state import State, ensure_dir
from devcluster.steps import Context

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="devcluster",
    help="One command for a throw-away Kubernetes cluster with the Forail platform installed.\n\n"
    "Quick start: [bold]devcluster up --provider kind[/bold], then [bold]devcluster e2e[/bold]; "
    "[bold]devcluster down[/bold] when done. Settings live in ./devcluster.yaml (see docs/configuration.md).",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
hosts_app = typer.Typer(help="Manage the devcluster block in /etc/hosts.", no_args_is_help=True,
                        rich_markup_mode="rich")
app.add_typer(hosts_app, name="hosts")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default ./devcluster.yaml).")]
ProviderOpt = Annotated[str | None, typer.Option("--provider", "-p",
                                                  help="kind | vagrant | existing (overrides the config).")]
KubeconfigOpt = Annotated[Path | None, typer.Option(
    "--kubeconfig", help="Kubeconfig of an existing cluster (implies --provider existing).")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Context in --kubeconfig to use.")]


def load_config(config_file: Path | None, provider: str | None = None, kubeconfig: Path | None = None,
                context: str | None = None) -> config.Config:
    if provider is None and (kubeconfig is not None or context is not None):
        provider = "existing"
    overrides: dict[str, Any] = {"provider": provider}
    if kubeconfig is not None:
        overrides["existing.kubeconfig"] = str(kubeconfig)
    if context is not None:
        overrides["existing.context"] = context
    return config.load(config_file, overrides)


def make_context(cfg: config.Config, dry_run: bool = False, assume_yes: bool = False,
                 skip_stack: bool = False) -> Context:
    from devcluster.providers import get_provider

    state = State(cfg.state_path)
    if not dry_run:
        ensure_dir(state.root)
    return Context(cfg, state, console, get_provider(cfg, state), dry_run=dry_run, assume_yes=assume_yes,
                   skip_stack=skip_stack)


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
) -> None:
    """Create the cluster (or use an existing one), install prerequisites and the stack.

    Every step checks first and only does work that is missing, so re-running
    `up` on a ready cluster just verifies it.

    Examples:

      devcluster up --provider kind

      devcluster up --provider existing --kubeconfig ~/.kube/config --context kind-dev --skip-stack

      devcluster up --dry-run          # show the plan, touch nothing

      devcluster up --from traefik     # resume after fixing a failure
    """
    from devcluster.plan import up_steps
    from devcluster.steps import execute

    cfg = load_config(config_file, provider, kubeconfig, context)
    ctx = make_context(cfg, dry_run=dry_run, assume_yes=yes, skip_stack=skip_stack)
    steps = up_steps(cfg, ctx.provider, skip_stack=skip_stack)
    outcomes = execute(steps, ctx, start_from)
    if not dry_run:
        ran = sum(1 for o in outcomes if o.status == "ran")
        seconds = sum(o.seconds for o in outcomes)
        console.print(f"[bold green]cluster {cfg.name!r} is ready[/bold green] "
                      f"({ran} step(s) did work, {len(outcomes) - ran} already done, {seconds:.0f}s)")
        console.print(f"  export KUBECONFIG={ctx.provider.kubeconfig() or '~/.kube/config'}")
        console.print(f"  http://{cfg.hostname}:{cfg.node_ports.http}/  https://{cfg.hostname}:{cfg.node_ports.https}/")


@app.command()
def plan(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
         context: ContextOpt = None,
         skip_stack: Annotated[bool, typer.Option("--skip-stack")] = False) -> None:
    """List the ordered steps `up` runs for the chosen provider, with what each does.

    Example: devcluster plan --provider vagrant
    """
    from devcluster.plan import up_steps
    from devcluster.steps import plan_table

    cfg = load_config(config_file, provider, kubeconfig, context)
    ctx = make_context(cfg, dry_run=True)
    console.print(plan_table(up_steps(cfg, ctx.provider, skip_stack), f"{cfg.provider}: {cfg.name}"))


@app.command()
def down(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the state dir (generated secrets too).")]
    = False,
) -> None:
    """Delete the cluster and remove its /etc/hosts block.

    For `existing` clusters only the hosts block is removed; use
    `devcluster stack uninstall` for the releases.

    Example: devcluster down --purge
    """
    import shutil

    cfg = load_config(config_file, provider, kubeconfig, context)
    ctx = make_context(cfg)
    ctx.provider.down(ctx)
    if cfg.hosts.manage:
        from devcluster.prereqs import hosts_file

        hf = hosts_file(cfg, ctx.state.root)
        if hf.remove(cfg.name):
            console.print(f"removed the devcluster {cfg.name} block from {hf.path}")
    ctx.state.clear_progress()
    if purge:
        shutil.rmtree(ctx.state.root, ignore_errors=True)
        console.print(f"deleted {ctx.state.root}")


@app.command()
def status(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Show nodes, prerequisite health and the hosts entry.

    Example: devcluster status --output json | jq .nodes
    """
    from devcluster.status import gather

    if output not in ("table", "json"):
        raise ConfigError(f"--output {output}: expected table or json")
    cfg = load_config(config_file, provider, kubeconfig, context)
    ctx = make_context(cfg)
    data = gather(ctx)
    if output == "json":
        print(json.dumps(data, indent=2, default=str))
        return
    console.print(f"cluster [bold]{data['cluster']}[/bold] ({data['provider']}), reachable: {data['reachable']} "
                  f"{data.get('detail', '')}")
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
            t.add_row(k, "yes" if v["ok"] else "[red]no[/red]", str(v["detail"]))
        console.print(t)
    entries = data["hosts"]["entries"]
    console.print(f"hosts ({data['hosts']['file']}): " +
                  (", ".join(f"{e['ip']} {' '.join(e['hostnames'])}" for e in entries) or "no entry"))


@app.command()
def doctor(config_file: ConfigOpt = None, provider: ProviderOpt = None) -> None:
    """Check the tools the chosen provider needs (with versions) and the host setup.

    Exits 1 when something needs fixing; each problem comes with its fix.

    Example: devcluster doctor --provider vagrant
    """
    from devcluster.doctor import run_doctor

    cfg = load_config(config_file, provider)
    ctx = make_context(cfg, dry_run=True)
    findings = run_doctor(cfg, ctx.provider)
    t = Table("check", "ok", "detail", "fix")
    for f in findings:
        t.add_row(f.what, "[green]yes[/green]" if f.ok else "[red]no[/red]", f.detail, f.fix)
    console.print(t)
    if not all(f.ok for f in findings):
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
    from devcluster.kubeconfigs import merge_into

    cfg = load_config(config_file, provider)
    ctx = make_context(cfg, dry_run=True)
    kc = ctx.provider.kubeconfig()
    if kc is None or not kc.exists():
        raise DevclusterError(f"no kubeconfig at {kc}", "run `devcluster up` first")
    if not merge:
        print(kc)
        return
    dest = into.expanduser()
    backup = merge_into(kc, dest, use_context=use)
    console.print(f"merged {ctx.provider.context() or 'the context'} into {dest}"
                  + (f" (backup: {backup})" if backup else ""))


HostsFileOpt = Annotated[Path | None, typer.Option("--hosts-file", help="File to edit (default /etc/hosts).")]


def _hosts(config_file: Path | None, hosts_file: Path | None) -> tuple[config.Config, hosts.HostsFile]:
    from devcluster.prereqs import hosts_file as make

    cfg = load_config(config_file)
    return cfg, make(cfg, cfg.state_path, str(hosts_file) if hosts_file else None)


@hosts_app.command("add")
def hosts_add(
    config_file: ConfigOpt = None,
    hosts_file: HostsFileOpt = None,
    ip: Annotated[str | None, typer.Option(help="Address (default: the provider's ingress address).")] = None,
    hostname: Annotated[list[str] | None, typer.Option("--hostname", help="Name(s); default from config.")]
    = None,
) -> None:
    """Write (or update) the managed block: `<ip> <hostname>`.

    Example: devcluster hosts add --ip 192.168.56.32 --hostname forail.lan
    """
    cfg, hf = _hosts(config_file, hosts_file)
    names = hostname or [cfg.hostname]
    entry = hosts.validate_entry(ip or cfg.ingress_ip(), names)
    for name in names:
        if hosts.mdns_hijacks(name):
            err_console.print("[yellow]warning:[/yellow] " + hosts.MDNS_WARNING.format(host=name))
    changed = hf.add(cfg.name, [entry])
    for msg in hf.messages:
        err_console.print(msg)
    console.print(("updated" if changed else "unchanged") + f": {hf.path}: {entry.ip} {' '.join(entry.hostnames)}")


@hosts_app.command("remove")
def hosts_remove(config_file: ConfigOpt = None, hosts_file: HostsFileOpt = None) -> None:
    """Remove the managed block; nothing else in the file changes.

    Example: devcluster hosts remove --hosts-file /tmp/hosts
    """
    cfg, hf = _hosts(config_file, hosts_file)
    changed = hf.remove(cfg.name)
    console.print(("removed" if changed else "no block") + f" in {hf.path}")


@hosts_app.command("show")
def hosts_show(config_file: ConfigOpt = None, hosts_file: HostsFileOpt = None) -> None:
    """Print the entries of the managed block.

    Example: devcluster hosts show
    """
    cfg, hf = _hosts(config_file, hosts_file)
    entries = hf.show(cfg.name)
    if not entries:
        console.print(f"no devcluster {cfg.name} block in {hf.path}")
    for e in entries:
        print(f"{e.ip}\t{' '.join(e.hostnames)}")


@app.command("config")
def show_config(config_file: ConfigOpt = None, provider: ProviderOpt = None) -> None:
    """Print the effective configuration (defaults + ./devcluster.yaml + options) as YAML.

    Example (start a config file): devcluster config > devcluster.yaml
    """
    import yaml

    cfg = load_config(config_file, provider)
    print(yaml.safe_dump(config.to_dict(cfg), sort_keys=False), end="")


def _version_callback(value: bool) -> None:
    if value:
        print(f"devcluster {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    pass


def main() -> None:
    """Standalone click handles usage errors, --help and typer.Exit codes; devcluster's own errors end here."""
    try:
        app()
    except DevclusterError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err_console.print(f"[yellow]hint:[/yellow] {escape(exc.hint)}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted: re-run `devcluster up` (steps are idempotent) or use --from")
        sys.exit(130)


# Command groups defined in their own modules register themselves on `app` when imported.
from devcluster import cli_stack, cli_vagrant  # noqa: E402, F401
