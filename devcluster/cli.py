"""The `devcluster` command line.

Commands only parse options, build the config and hand over to the modules
that do the work; every DevclusterError is printed with its hint and turned
into an exit code (2 for bad input, 1 otherwise) instead of a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperOption

from devcluster import __version__, config, hosts
from devcluster.errors import ConfigError, DevclusterError
from devcluster.state import State
from devcluster.steps import Context


class _ClosableStdout:
    """stdout that goes quiet when the reader goes away (`devcluster plan | head`).

    A closed pipe must not turn into exit code 1 or abort a run half-way: the work goes on and only the
    output is dropped, so the exit code still says whether the command did its job.
    """

    closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                return sys.stdout.write(text)
            except BrokenPipeError:
                self.closed_by_reader = True
                _silence_stdout()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self.closed_by_reader = True
                _silence_stdout()

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


_stdout = _ClosableStdout()
console = Console(file=_stdout, highlight=False)  # type: ignore[arg-type]
err_console = Console(stderr=True, highlight=False)


def out(text: str) -> None:
    """Machine-readable output (paths, YAML, JSON, hosts lines) exactly as given: no wrapping, no markup."""
    _stdout.write(text if text.endswith("\n") else text + "\n")
    _stdout.flush()


def _flags_show_as_flags() -> None:
    """typer >= 0.2x prints `<bool>` after every flag in --help; a flag takes no value, so show none."""
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_as_flags()

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
WaitLockOpt = Annotated[float, typer.Option(
    "--wait-lock", metavar="SECONDS",
    help="When another devcluster run is changing this cluster, wait up to SECONDS for it (default: fail at once).")]


ImageTagOpt = Annotated[str | None, typer.Option(
    "--image-tag", metavar="TAG",
    help="Forail backend and frontend image tag (overrides stack.image_tag), e.g. a build loaded with "
         "`devcluster image load`.")]


def load_config(config_file: Path | None, provider: str | None = None, kubeconfig: Path | None = None,
                context: str | None = None, image_tag: str | None = None) -> config.Config:
    if provider is None and (kubeconfig is not None or context is not None):
        provider = "existing"
    overrides: dict[str, Any] = {"provider": provider, "stack.image_tag": image_tag}
    if kubeconfig is not None:
        overrides["existing.kubeconfig"] = str(kubeconfig)
    if context is not None:
        overrides["existing.context"] = context
    cfg = config.load(config_file, overrides)
    for warning in config.warnings(cfg):
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    return cfg


def make_context(cfg: config.Config, dry_run: bool = False, assume_yes: bool = False,
                 resume_command: str = "devcluster up") -> Context:
    from devcluster.providers import get_provider

    # The state dir is made by the first write into it (0700), so read-only commands leave no trace.
    state = State(cfg.state_path)
    return Context(cfg, state, console, get_provider(cfg, state), dry_run=dry_run, assume_yes=assume_yes,
                   resume_command=resume_command)


def open_context(config_file: Path | None = None, provider: str | None = None, kubeconfig: Path | None = None,
                 context: str | None = None, *, dry_run: bool = False, assume_yes: bool = False,
                 resume_command: str = "devcluster up", image_tag: str | None = None) -> Context:
    """The one way a command gets from its options to a cluster context: config, then provider."""
    cfg = load_config(config_file, provider, kubeconfig, context, image_tag)
    return make_context(cfg, dry_run=dry_run, assume_yes=assume_yes, resume_command=resume_command)


@contextlib.contextmanager
def changing(ctx: Context, wait_lock: float) -> Iterator[None]:
    """Hold the cluster's lock while a command changes it (see clusterlock)."""
    from devcluster.clusterlock import cluster_lock

    def say(line: str) -> None:
        err_console.print(escape(line), highlight=False)

    with cluster_lock(ctx.state.root, ctx.config.name, wait_lock, say):
        yield


def command_line(command: list[str], config_file: Path | None, provider: str | None, kubeconfig: Path | None,
                 context: str | None, yes: bool = False, extra: list[str] | None = None) -> str:
    """The command as the user would re-type it, with the options that pick the cluster."""
    argv = ["devcluster", *command]
    if provider is not None:
        argv += ["--provider", provider]
    if config_file is not None:
        argv += ["--config", str(config_file)]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    if context is not None:
        argv += ["--context", context]
    if yes:
        argv.append("--yes")
    return shlex.join(argv + (extra or []))


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

    extra = (["--skip-stack"] if skip_stack else []) + (["--image-tag", image_tag] if image_tag else [])
    resume = command_line(["up"], config_file, provider, kubeconfig, context, yes, extra)
    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=dry_run, assume_yes=yes,
                       resume_command=resume, image_tag=image_tag)
    cfg = ctx.config
    steps = up_steps(cfg, ctx.provider, skip_stack=skip_stack)
    if dry_run:
        execute(steps, ctx, start_from)
        return
    with changing(ctx, wait_lock):
        outcomes = execute(steps, ctx, start_from)
    ran = sum(1 for o in outcomes if o.status == "ran")
    seconds = sum(o.seconds for o in outcomes)
    console.print(f"[bold green]cluster {cfg.name!r} is ready[/bold green] "
                  f"({ran} step(s) did work, {len(outcomes) - ran} already done, {seconds:.0f}s)")
    console.print(f"  export KUBECONFIG={ctx.provider.kubeconfig() or '~/.kube/config'}")
    console.print(f"  http://{cfg.hostname}:{cfg.node_ports.http}/  https://{cfg.hostname}:{cfg.node_ports.https}/")


@app.command()
def plan(config_file: ConfigOpt = None, provider: ProviderOpt = None, kubeconfig: KubeconfigOpt = None,
         context: ContextOpt = None,
         skip_stack: Annotated[bool, typer.Option("--skip-stack", help="Leave out the stack's steps.")] = False,
         ) -> None:
    """List the ordered steps `up` runs for the chosen provider, with what each does.

    Example: devcluster plan --provider vagrant
    """
    from devcluster.plan import up_steps
    from devcluster.steps import plan_table

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
    wait_lock: WaitLockOpt = 0.0,
) -> None:
    """Delete the cluster and remove its /etc/hosts block.

    Each part is removed on its own: when one fails (kind is missing, say), the rest is still removed
    and the failures are listed at the end (exit 1).

    For `existing` clusters only the hosts block is removed; use
    `devcluster stack uninstall` for the releases.

    Example: devcluster down --purge
    """
    import shutil

    ctx = open_context(config_file, provider, kubeconfig, context)
    cfg = ctx.config
    problems: list[str] = []
    with changing(ctx, wait_lock):
        try:
            ctx.provider.down(ctx)
        except DevclusterError as exc:
            problems.append(f"the {cfg.provider} cluster {cfg.name!r} was not deleted: {exc.message}"
                            + (f" ({exc.hint})" if exc.hint else ""))
        if cfg.hosts.manage:
            hf = hosts.hosts_file_for(cfg, ctx.state.root)
            try:
                if hf.remove(cfg.name):
                    console.print(f"removed the devcluster {cfg.name} block from {hf.path}")
            except DevclusterError as exc:
                problems.append(f"the hosts block in {hf.path} was not removed: {exc.message}")
    if purge and not problems:
        shutil.rmtree(ctx.state.root, ignore_errors=True)
        console.print(f"deleted {ctx.state.root}")
    elif purge:
        problems.append(f"kept {ctx.state.root} (--purge) because the cluster may still exist")
    if problems:
        for problem in problems:
            err_console.print(f"[bold red]not done:[/bold red] {escape(problem)}", highlight=False)
        raise typer.Exit(1)


@app.command()
def status(
    config_file: ConfigOpt = None,
    provider: ProviderOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Show nodes, prerequisite health and the hosts entry; exits 1 when the cluster cannot be reached.

    Example: devcluster status --output json | jq .nodes
    """
    from devcluster.status import gather

    if output not in ("table", "json"):
        raise ConfigError(f"--output {output}: expected table or json")
    ctx = open_context(config_file, provider, kubeconfig, context, dry_run=True)
    data = gather(ctx)
    if output == "json":
        out(json.dumps(data, indent=2, default=str))
    else:
        _print_status(data)
    if not data["reachable"]:
        raise typer.Exit(1)


def _print_status(data: dict[str, Any]) -> None:
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
    from devcluster.doctor import run_doctor

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
    from devcluster.kubeconfigs import merge_into

    ctx = open_context(config_file, provider, dry_run=True)
    kc = ctx.provider.kubeconfig()
    if kc is None or not kc.exists():
        raise DevclusterError(f"no kubeconfig at {kc}", "run `devcluster up` first")
    if not merge:
        out(str(kc))
        return
    dest = into.expanduser()
    backup = merge_into(kc, dest, use_context=use)
    console.print(f"merged {ctx.provider.context() or 'the context'} into {dest}"
                  + (f" (backup: {backup})" if backup else ""))


HostsFileOpt = Annotated[Path | None, typer.Option("--hosts-file", help="File to edit (default /etc/hosts).")]


@hosts_app.command("add")
def hosts_add(
    config_file: ConfigOpt = None,
    hosts_file_opt: HostsFileOpt = None,
    ip: Annotated[str | None, typer.Option(help="Address (default: the provider's ingress address).")] = None,
    hostname: Annotated[list[str] | None, typer.Option("--hostname", help="Name(s); default from config.")]
    = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Comment out (reversibly) hand-written lines for the same name that would win.")] = False,
    wait_lock: WaitLockOpt = 0.0,
) -> None:
    """Write (or update) the managed block: `<ip> <hostname>`.

    A hand-written line for the same name earlier in the file wins over the block: `add` warns with its
    line number, and `--force` comments it out inside devcluster's markers (`remove` restores it).

    Example: devcluster hosts add --ip 192.168.56.32 --hostname forail.lan
    """
    ctx = open_context(config_file)
    cfg = ctx.config
    hf = hosts.hosts_file_for(cfg, ctx.state.root, str(hosts_file_opt) if hosts_file_opt else None)
    names = hostname or [cfg.hostname]
    entry = hosts.validate_entry(ip or cfg.ingress_ip(), names)
    for name in names if hostname else []:
        for warning in hosts.hostname_warnings(name):
            err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    with changing(ctx, wait_lock):
        changed = hf.add(cfg.name, [entry], force=force)
    for msg in hf.messages:
        err_console.print(escape(msg), highlight=False)
    console.print(("updated" if changed else "unchanged") + f": {hf.path}: {entry.ip} {' '.join(entry.hostnames)}")


@hosts_app.command("remove")
def hosts_remove(config_file: ConfigOpt = None, hosts_file_opt: HostsFileOpt = None,
                 wait_lock: WaitLockOpt = 0.0) -> None:
    """Remove the managed block (and restore lines `add --force` commented out); nothing else changes.

    Example: devcluster hosts remove --hosts-file /tmp/hosts
    """
    ctx = open_context(config_file)
    hf = hosts.hosts_file_for(ctx.config, ctx.state.root, str(hosts_file_opt) if hosts_file_opt else None)
    with changing(ctx, wait_lock):
        changed = hf.remove(ctx.config.name)
    console.print(("removed" if changed else "no block") + f" in {hf.path}")


@hosts_app.command("show")
def hosts_show(config_file: ConfigOpt = None, hosts_file_opt: HostsFileOpt = None) -> None:
    """Print the entries of the managed block.

    Example: devcluster hosts show
    """
    ctx = open_context(config_file, dry_run=True)
    hf = hosts.hosts_file_for(ctx.config, ctx.state.root, str(hosts_file_opt) if hosts_file_opt else None)
    entries = hf.show(ctx.config.name)
    if not entries:
        console.print(f"no devcluster {ctx.config.name} block in {hf.path}")
    for e in entries:
        out(f"{e.ip}\t{' '.join(e.hostnames)}")


@app.command("config")
def show_config(config_file: ConfigOpt = None, provider: ProviderOpt = None) -> None:
    """Print the effective configuration (defaults + ./devcluster.yaml + options) as YAML.

    Example (start a config file): devcluster config > devcluster.yaml
    """
    import yaml

    cfg = load_config(config_file, provider)
    out(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))


def _version_callback(value: bool) -> None:
    if value:
        out(f"devcluster {__version__}")
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
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing is wrong with the command itself.
        _silence_stdout()
        sys.exit(0)


# Command groups defined in their own modules register themselves on `app` when imported.
from devcluster import cli_stack, cli_vagrant  # noqa: E402, F401
