"""Host commands: loadpolicy, dumppolicy, create, destroy, shutdown, reboot,
pause, unpause, rename, domid, domname, list, dry-run, info, dmesg, log,
uptime. Each parses its arguments, calls one function of `xm_core` and
hands the result to `xm_core.render.domains`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from xm_core.cli.common import DOMAIN, NUMBERS, handle_errors, paths_of, root_option

JSON_HELP = "Print one JSON document instead of text."


F = TypeVar("F", bound=Callable[..., Any])


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(func)


# ------------------------------------------------------------------ policy


@click.command()
@click.argument("policy")
@click.option(
    "--keep-ssidrefs",
    is_flag=True,
    help="Load as Xen 3.0.4 did: running domains keep their ssidref numbers and take "
    "whatever labels the new policy gives those numbers (re-checked under that reading).",
)
@_json_option
@click.pass_context
@handle_errors
def loadpolicy(ctx: click.Context, policy: str, keep_ssidrefs: bool, as_json: bool) -> None:
    """Load the compiled POLICY (dotted name; run makepolicy first).

    Refused unless the active policy is DEFAULT or has the same reference
    name. The running domains are re-checked against the new policy first;
    when any would break it, every violation is listed and nothing changes.
    A running domain whose label the new policy moves to another ssidref is
    a violation, unless --keep-ssidrefs: then the domain keeps its number,
    reads as the label the new policy gives it, and each such domain is
    printed. A versioned policy (Xen 3.4's format) takes the update path of
    setpolicy instead: version check, renames, running domains renumbered.
    """
    from xm_core.host.model import PolicyLoadRefused, is_versioned_binary, load_policy
    from xm_core.render import domains as render

    paths = paths_of(ctx)
    if is_versioned_binary(paths, policy):  # Xen 3.4's format: the update path of setpolicy
        from xm_core.errors import UsageError
        from xm_core.host.update.apply import load_versioned

        if keep_ssidrefs:
            raise UsageError(
                "--keep-ssidrefs is for policies of Xen 3.0.4's format; a versioned policy "
                "carries its running domains to their labels' new ssidrefs"
            )
        from xm_core.render.xen34 import lifecycle

        lifecycle.loaded_versioned(load_versioned(paths, policy), as_json)
        return
    try:
        result = load_policy(paths, policy, keep_ssidrefs=keep_ssidrefs)
    except PolicyLoadRefused as exc:
        if as_json:
            render.loaded(exc.result, True)
        raise
    render.loaded(result, as_json)


@click.command()
@_json_option
@click.pass_context
@handle_errors
def dumppolicy(ctx: click.Context, as_json: bool) -> None:
    """Print the active binary policy with the live Chinese Wall counters,
    then the STE decision statistics."""
    from xm_core.host.model import dump_policy
    from xm_core.render import domains as render

    render.dump_policy(dump_policy(paths_of(ctx)), as_json)


# ------------------------------------------------------------------ create and dry-run


@click.command(context_settings={"ignore_unknown_options": False})
@click.option("-c", "console", is_flag=True, help="Attach to the new domain's console.")
@click.option(
    "-n",
    "--dryrun",
    "dryrun",
    is_flag=True,
    help="Print the computed configuration (Xen's SXP; --json: the settings) and create nothing.",
)
@_json_option
@click.argument("config")
@click.argument("variables", nargs=-1, metavar="[NAME=VALUE]...")
@click.pass_context
@handle_errors
def create(
    ctx: click.Context,
    console: bool,
    dryrun: bool,
    as_json: bool,
    config: str,
    variables: tuple[str, ...],
) -> None:
    """Create a domain from CONFIG (Xen's config language, interpreted
    safely, never executed; `/dev/null` is an empty config). `name=value`
    words set Xen settings over the config's, or the config's own
    variables (`xm create xmexample2 vmid=1`).

    Under a policy the domain needs a label (`access_control`) or an
    `ssidref`; every disk and vif is checked before the domain exists.
    """
    from xm_core.host.domains import CreateDenied, create_domain, preview_config
    from xm_core.render import domains as render

    if dryrun:
        render.config_preview(preview_config(paths_of(ctx), config, variables), as_json)
        return

    try:
        outcome = create_domain(paths_of(ctx), config, variables)
    except CreateDenied as exc:
        if as_json:
            render.created(exc.outcome, True)
        raise
    render.created(outcome, as_json)
    if console and not as_json and outcome.domain is not None:
        from xm_core.cli.terminal import attach_console

        sys.stdout.flush()
        sys.exit(attach_console(ctx, outcome.domain.name, False, False))


@click.command("dry-run")
@_json_option
@click.argument("config")
@click.argument("variables", nargs=-1)
@click.pass_context
@handle_errors
def dry_run(ctx: click.Context, as_json: bool, config: str, variables: tuple[str, ...]) -> None:
    """Check CONFIG against the active policy and the running domains
    without creating anything; exit 1 when it would fail."""
    from xm_core.host.domains import dry_run as run
    from xm_core.render import domains as render

    report = run(paths_of(ctx), config, variables)
    render.dry_run(report, as_json)
    if not report.passed:
        sys.exit(1)


# ------------------------------------------------------------------ life cycle


@click.command(context_settings=NUMBERS)
@_json_option
@click.argument("domain", type=DOMAIN)
@click.pass_context
@handle_errors
def destroy(ctx: click.Context, as_json: bool, domain: str) -> None:
    """Terminate DOMAIN (name or id) at once."""
    from xm_core.host.domains import destroy_domain
    from xm_core.render import domains as render

    render.domains_done([destroy_domain(paths_of(ctx), domain)], "destroyed", as_json)


@click.command(context_settings=NUMBERS)
@click.option("-a", "--all", "all_domains", is_flag=True, help="Every domain but Domain-0.")
@click.option("-w", "--wait", "wait", is_flag=True, help="Wait until the domain is down.")
@click.option("-H", "--halt", "halt", is_flag=True, help="Halt the domain (the default).")
@click.option("-R", "--reboot", "reboot_", is_flag=True, help="Reboot the domain instead.")
@_json_option
@click.argument("domain", required=False, type=DOMAIN)
@click.pass_context
@handle_errors
def shutdown(
    ctx: click.Context,
    all_domains: bool,
    wait: bool,
    halt: bool,
    reboot_: bool,
    as_json: bool,
    domain: str | None,
) -> None:
    """Shut DOMAIN down (or every domain with -a); with -R reboot it.
    Domains shut down at once in the model, so -w returns right away."""
    from xm_core.errors import UsageError
    from xm_core.host.domains import reboot_domains, shutdown_domains
    from xm_core.render import domains as render

    if halt and reboot_:
        raise UsageError("-H and -R cannot be combined")
    refs = [domain] if domain else []
    if reboot_:
        done = reboot_domains(paths_of(ctx), refs, all_domains)
        render.domains_done(done, "rebooted", as_json)
        return
    render.domains_done(shutdown_domains(paths_of(ctx), refs, all_domains), "shut down", as_json)


@click.command(context_settings=NUMBERS)
@click.option("-a", "--all", "all_domains", is_flag=True, help="Every domain but Domain-0.")
@click.option("-w", "--wait", "wait", is_flag=True, help="Wait until the domain is back.")
@_json_option
@click.argument("domain", required=False, type=DOMAIN)
@click.pass_context
@handle_errors
def reboot(
    ctx: click.Context, all_domains: bool, wait: bool, as_json: bool, domain: str | None
) -> None:
    """Reboot DOMAIN (or every domain with -a): it comes back under a new id."""
    from xm_core.host.domains import reboot_domains
    from xm_core.render import domains as render

    refs = [domain] if domain else []
    render.domains_done(reboot_domains(paths_of(ctx), refs, all_domains), "rebooted", as_json)


@click.command(context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.pass_context
@handle_errors
def pause(ctx: click.Context, domain: str) -> None:
    """Pause DOMAIN."""
    from xm_core.host.domains import set_paused

    set_paused(paths_of(ctx), domain, True)


@click.command(context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.pass_context
@handle_errors
def unpause(ctx: click.Context, domain: str) -> None:
    """Unpause DOMAIN."""
    from xm_core.host.domains import set_paused

    set_paused(paths_of(ctx), domain, False)


@click.command(context_settings=NUMBERS)
@click.argument("domain", type=DOMAIN)
@click.argument("new_name")
@click.pass_context
@handle_errors
def rename(ctx: click.Context, domain: str, new_name: str) -> None:
    """Give DOMAIN the name NEW_NAME."""
    from xm_core.host.domains import rename_domain

    rename_domain(paths_of(ctx), domain, new_name)


@click.command(context_settings=NUMBERS)
@_json_option
@click.argument("domain", type=DOMAIN)
@click.pass_context
@handle_errors
def domid(ctx: click.Context, as_json: bool, domain: str) -> None:
    """Print the id of the domain named DOMAIN."""
    from xm_core.host.domains import find_domain
    from xm_core.render import domains as render

    render.identity(find_domain(paths_of(ctx), domain), "domid", as_json)


@click.command(context_settings=NUMBERS)
@_json_option
@click.argument("domain", type=DOMAIN)
@click.pass_context
@handle_errors
def domname(ctx: click.Context, as_json: bool, domain: str) -> None:
    """Print the name of the domain with id DOMAIN."""
    from xm_core.host.domains import find_domain
    from xm_core.render import domains as render

    render.identity(find_domain(paths_of(ctx), domain), "name", as_json)


# ------------------------------------------------------------------ list and friends


@click.command("list", context_settings=NUMBERS)
@click.option("-l", "--long", "long_", is_flag=True, help="Every detail, as S-expressions.")
@click.option("--label", "label", is_flag=True, help="With each domain's security label.")
@_json_option
@click.argument("domains", nargs=-1, type=DOMAIN)
@click.pass_context
@handle_errors
def list_(
    ctx: click.Context, long_: bool, label: bool, as_json: bool, domains: tuple[str, ...]
) -> None:
    """List the domains (all, or those named), in id order; --label sorts
    by label."""
    from xm_core.errors import UsageError
    from xm_core.host.domains import list_domains
    from xm_core.render import domains as render

    if long_ and label:
        raise UsageError("--long and --label cannot be combined")
    result = list_domains(paths_of(ctx), domains, with_labels=label, long=long_)
    render.domain_list(result, "long" if long_ else "label" if label else "brief", as_json)


@click.command(context_settings=NUMBERS)
@click.option("-s", "--short", "short", is_flag=True, help="One short line per domain.")
@_json_option
@click.argument("domains", nargs=-1, type=DOMAIN)
@click.pass_context
@handle_errors
def uptime(ctx: click.Context, short: bool, as_json: bool, domains: tuple[str, ...]) -> None:
    """How long each domain has been up."""
    from xm_core.host.domains import uptimes
    from xm_core.render import domains as render

    render.uptime(uptimes(paths_of(ctx), domains), short, as_json)


@click.command()
@_json_option
@click.pass_context
@handle_errors
def info(ctx: click.Context, as_json: bool) -> None:
    """Facts of the host: CPUs, memory, the root in use, the active policy."""
    from xm_core.files.paths import resolve_root
    from xm_core.host.model import host_info
    from xm_core.render import domains as render

    paths = paths_of(ctx)
    _, how = resolve_root(root_option(ctx))
    root_ctx = ctx.find_root()
    if (
        how == "--root"
        and root_ctx.get_parameter_source("root") == click.core.ParameterSource.ENVIRONMENT
    ):
        how = "XM_ROOT"
    render.info(host_info(paths, how), as_json)


@click.command()
@click.option("-c", "--clear", "clear", is_flag=True, help="Clear the message buffer.")
@_json_option
@click.pass_context
@handle_errors
def dmesg(ctx: click.Context, clear: bool, as_json: bool) -> None:
    """The hypervisor's messages (the ACM's decisions among them); -c prints
    and then clears them."""
    from xm_core.host.model import dmesg as read
    from xm_core.render import domains as render

    render.messages(read(paths_of(ctx), clear), as_json, stamp=False)


@click.command()
@_json_option
@click.pass_context
@handle_errors
def log(ctx: click.Context, as_json: bool) -> None:
    """What xm did on this host, with times."""
    from xm_core.host.model import xm_log
    from xm_core.render import domains as render

    render.messages(xm_log(paths_of(ctx)), as_json, stamp=True)
