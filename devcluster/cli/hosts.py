"""`devcluster hosts add|remove|show`: the managed block in /etc/hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devcluster.cli.common import (
    ConfigOpt,
    WaitLockOpt,
    app,
    changing,
    console,
    err_console,
    escape,
    open_context,
    out,
)

hosts_app = typer.Typer(help="Manage the devcluster block in /etc/hosts.\n\n"
    "Examples:\n\n"
    "  devcluster hosts add\n\n"
    "  devcluster hosts show\n\n"
    "  devcluster hosts remove --hosts-file /tmp/hosts", no_args_is_help=True,
                        rich_markup_mode="rich")
app.add_typer(hosts_app, name="hosts")


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
    from devcluster.local import hosts

    ctx = open_context(config_file)
    cfg = ctx.config
    hf = hosts.hosts_file_for(cfg, ctx.state.root, str(hosts_file_opt) if hosts_file_opt else None)
    names = hostname or [cfg.hostname]
    entry = hosts.validate_entry(ip or ctx.provider.ingress_address(), names)
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
    from devcluster.local import hosts

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
    from devcluster.local import hosts

    ctx = open_context(config_file, dry_run=True)
    hf = hosts.hosts_file_for(ctx.config, ctx.state.root, str(hosts_file_opt) if hosts_file_opt else None)
    entries = hf.show(ctx.config.name)
    if not entries:
        console.print(f"no devcluster {ctx.config.name} block in {hf.path}")
    for e in entries:
        out(f"{e.ip}\t{' '.join(e.hostnames)}")
