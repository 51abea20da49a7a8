"""Life-cycle commands: save, restore, suspend, resume, dump-core, migrate,
mem-max, mem-set, vcpu-set, vcpu-list, vcpu-pin, sysrq."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from xm_core.cli.common import (
    DOMAIN,
    MBS,
    MEMORY,
    NUMBERS,
    VCPU,
    VCPU_COUNT,
    handle_errors,
    paths_of,
)

_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _print_restored(bring_back: Callable[[], Any], as_json: bool) -> None:
    """What restore and resume print: the outcome, and for a refused one
    (with --json) its document too before the error line."""
    from xm_core.host.domains import CreateDenied
    from xm_core.render.lifecycle import restored

    try:
        outcome = bring_back()
    except CreateDenied as exc:
        if as_json:
            restored(exc.outcome, True)
        raise
    restored(outcome, as_json)


@click.command(context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("file")
@click.pass_context
@handle_errors
def save(ctx: click.Context, domain: str, file: str) -> None:
    """Save DOMAIN (its label, sizes and devices) to FILE and stop it.

    FILE is written atomically in xm-acm's own format (JSON with a
    checksum); `xm restore FILE` brings the domain back.
    """
    from xm_core.host.lifecycle import save_domain

    save_domain(paths_of(ctx), domain, file)


@click.command()
@click.option("-p", "--paused", is_flag=True, help="Leave the restored domain paused.")
@click.argument("file")
@_JSON
@click.pass_context
@handle_errors
def restore(ctx: click.Context, paused: bool, file: str, as_json: bool) -> None:
    """Restore a domain saved with `xm save`.

    Its label is checked against the policy active now, and the domain and
    its devices go through every check of `xm create`; a refused restore
    changes nothing.
    """
    from xm_core.host.lifecycle import restore_domain

    _print_restored(lambda: restore_domain(paths_of(ctx), file, paused), as_json)


@click.command(context_settings=NUMBERS)
@click.option("-l", "--live", is_flag=True, help="Live migration (no difference in the model).")
@click.option(
    "-r",
    "--resource",
    type=MBS,
    metavar="MBS",
    help="Bandwidth limit in Mb/s (recorded; the model moves at once).",
)
@click.argument("domain", type=DOMAIN)
@click.argument("host")
@_JSON
@click.pass_context
@handle_errors
def migrate(
    ctx: click.Context, live: bool, resource: int | None, domain: str, host: str, as_json: bool
) -> None:
    """Move DOMAIN to HOST: another host root of this machine (what
    `--root` would name there).

    Refused unless HOST runs the same policy and the domain may start
    there; the domain moves whole or not at all.
    """
    from xm_core.host.lifecycle import migrate_domain
    from xm_core.render.lifecycle import migrated

    migrated(migrate_domain(paths_of(ctx), domain, host, live, resource), as_json)


@click.command("mem-max", context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("mem", type=MEMORY)
@click.pass_context
@handle_errors
def mem_max(ctx: click.Context, domain: str, mem: int) -> None:
    """Set the maximum memory of DOMAIN (MEM in MiB, or with b/k/m/g)."""
    from xm_core.host.lifecycle import set_max_memory

    set_max_memory(paths_of(ctx), domain, mem)


@click.command("mem-set", context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("mem", type=MEMORY)
@click.pass_context
@handle_errors
def mem_set(ctx: click.Context, domain: str, mem: int) -> None:
    """Set the memory of DOMAIN (MEM in MiB, or with b/k/m/g); at most its maximum."""
    from xm_core.host.lifecycle import set_memory

    set_memory(paths_of(ctx), domain, mem)


@click.command("vcpu-set", context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("count", type=VCPU_COUNT)
@click.pass_context
@handle_errors
def vcpu_set(ctx: click.Context, domain: str, count: int) -> None:
    """Set the number of online VCPUs of DOMAIN.

    Above the configured maximum is an error; below 1 is ignored.
    """
    from xm_core.host.lifecycle import set_vcpus

    set_vcpus(paths_of(ctx), domain, count)


@click.command("vcpu-list", context_settings=NUMBERS)
@click.argument("domains", nargs=-1, type=DOMAIN)
@_JSON
@click.pass_context
@handle_errors
def vcpu_list(ctx: click.Context, domains: tuple[str, ...], as_json: bool) -> None:
    """List the VCPUs of every domain (or of those named)."""
    from xm_core.host.lifecycle import list_vcpus
    from xm_core.render.lifecycle import vcpu_list as render

    render(list_vcpus(paths_of(ctx), domains), as_json)


@click.command("vcpu-pin", context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("vcpu", type=VCPU)
@click.argument("cpus")
@click.pass_context
@handle_errors
def vcpu_pin(ctx: click.Context, domain: str, vcpu: int | None, cpus: str) -> None:
    """Pin VCPU (a number or `all`) of DOMAIN to CPUS (`0-2,5,^1` or `all`)."""
    from xm_core.host.lifecycle import pin_vcpu

    pin_vcpu(paths_of(ctx), domain, vcpu, cpus)


@click.command(context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("key")
@click.pass_context
@handle_errors
def sysrq(ctx: click.Context, domain: str, key: str) -> None:
    """Send the magic SysRq KEY to DOMAIN (recorded in `xm log`)."""
    from xm_core.host.lifecycle import send_sysrq

    send_sysrq(paths_of(ctx), domain, key)


# ------------------------------------------------------------------ managed save, core dumps


@click.command(context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@_JSON
@click.pass_context
@handle_errors
def suspend(ctx: click.Context, domain: str, as_json: bool) -> None:
    """Suspend DOMAIN: a managed save inside the host root, resumed by name
    with `xm resume`."""
    from xm_core.host.lifecycle import suspend_domain
    from xm_core.render.lifecycle import suspended

    suspended(suspend_domain(paths_of(ctx), domain), as_json)


@click.command()
@click.option("-p", "--paused", is_flag=True, help="Leave the resumed domain paused.")
@click.argument("domain")
@_JSON
@click.pass_context
@handle_errors
def resume(ctx: click.Context, paused: bool, domain: str, as_json: bool) -> None:
    """Resume the suspended domain DOMAIN (by name).

    Its label is checked against the policy active now, as `xm restore`
    checks it; a refused resume keeps the suspended image.
    """
    from xm_core.host.lifecycle import resume_domain

    _print_restored(lambda: resume_domain(paths_of(ctx), domain, paused), as_json)


@click.command("dump-core", context_settings=NUMBERS)
@click.option("-L", "--live", is_flag=True, help="Do not pause the domain while dumping.")
@click.option("-C", "--crash", is_flag=True, help="Destroy the domain after the dump.")
@click.argument("domain", type=DOMAIN)
@click.argument("file", required=False)
@_JSON
@click.pass_context
@handle_errors
def dump_core(
    ctx: click.Context, live: bool, crash: bool, domain: str, file: str | None, as_json: bool
) -> None:
    """Write the core of DOMAIN (its recorded state) to FILE, by default
    under /var/xen/dump of the host root.

    The core is a JSON document: the save file's `domain` and `devices`
    with `format` `xm-acm-core` and a `core` object (domid, live, crash).
    """
    from xm_core.host.lifecycle import dump_core as dump
    from xm_core.render.lifecycle import core_dumped

    core_dumped(dump(paths_of(ctx), domain, file, live, crash), as_json)
