"""`xm fleet`: the fleet inventory, placement and acting through each
host. Each command opens the inventory (--store, XM_FLEET_STORE, or the
per-user SQLite file), calls one function of `xm_core.fleet.operations`
and hands the result to `xm_core.render.fleet`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from xm_core.cli.common import handle_errors

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"]}


def _json(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(func)


def _preference(func: F) -> F:
    func = click.option(
        "--pack",
        "preference",
        flag_value="pack",
        help="Prefer the fullest host that fits (keep other hosts empty).",
    )(func)
    return click.option(
        "--spread",
        "preference",
        flag_value="spread",
        default=True,
        help="Prefer the host with the most free memory, evening out zones (default).",
    )(func)


def _open(ctx: click.Context) -> Any:
    from xm_core.fleet.store import FleetStore, store_url

    obj = ctx.find_object(dict) or {}
    return FleetStore.open(store_url(obj.get("store")))


def _pref(value: str) -> Any:
    from xm_core.fleet.placement import Preference

    return Preference(value or "spread")


@click.group(context_settings=CONTEXT)
@click.option(
    "--store",
    metavar="URL",
    envvar="XM_FLEET_STORE",
    help="The inventory: a SQLite file (default: fleet.sqlite in the per-user data "
    "folder) or postgresql://... shared by several schedulers.",
)
@click.pass_context
def fleet(ctx: click.Context, store: str | None) -> None:
    """Many hosts: which host can take a domain under its Chinese Wall, and why not the others."""
    ctx.ensure_object(dict)
    ctx.obj["store"] = store


@fleet.command(context_settings=CONTEXT)
@click.option("--store", "init_store", metavar="URL", help="Where to create the inventory.")
@_json
@click.pass_context
@handle_errors
def init(ctx: click.Context, init_store: str | None, as_json: bool) -> None:
    """Create the inventory (or bring its schema up to date)."""
    from xm_core.fleet.operations import init_fleet
    from xm_core.fleet.store import store_url
    from xm_core.render import fleet as render

    render.initialised(init_fleet(store_url(init_store or ctx.obj.get("store"))), as_json)


@fleet.command("add-host", context_settings=CONTEXT)
@click.argument("name")
@click.argument("root")
@click.option("--zone", default="", help="A failure domain (rack, room, site) for spreading.")
@_json
@click.pass_context
@handle_errors
def add_host(ctx: click.Context, name: str, root: str, zone: str, as_json: bool) -> None:
    """Add the host whose root is ROOT under NAME (its state is read now)."""
    from xm_core.fleet.operations import add_host as add
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        render.host_added(add(store, name, root, zone), as_json)


@fleet.command("remove-host", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
@handle_errors
def remove_host(ctx: click.Context, name: str) -> None:
    """Forget host NAME (the host and its domains are left as they are)."""
    from xm_core.fleet.operations import remove_host as remove
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        render.host_removed(remove(store, name))


@fleet.command(context_settings=CONTEXT)
@_json
@click.pass_context
@handle_errors
def hosts(ctx: click.Context, as_json: bool) -> None:
    """Every host: policy, memory, vCPUs, domains and the Chinese Wall types it blocks."""
    from xm_core.fleet.operations import list_hosts
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        render.hosts(list_hosts(store), as_json)


@fleet.command(context_settings=CONTEXT)
@click.argument("config")
@click.argument("overrides", nargs=-1, metavar="[name=value ...]")
@click.option("--count", default=1, show_default=True, help="Place N domains, one after the other.")
@_preference
@click.option("--zone", default=None, help="Prefer hosts of this zone.")
@_json
@click.pass_context
@handle_errors
def place(
    ctx: click.Context,
    config: str,
    overrides: tuple[str, ...],
    count: int,
    preference: str,
    zone: str | None,
    as_json: bool,
) -> None:
    """Which host can take the domain of CONFIG, and why every other host refuses.

    Nothing is changed. Exit status 1 when some domain fits nowhere."""
    from xm_core.fleet.operations import place as do_place
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        result = do_place(store, config, overrides, count, _pref(preference), zone)
    render.placements(result, as_json)
    if any(p.chosen is None for p in result):
        sys.exit(1)


@fleet.command(context_settings=CONTEXT)
@click.argument("config")
@click.argument("overrides", nargs=-1, metavar="[name=value ...]")
@_preference
@click.option("--zone", default=None, help="Prefer hosts of this zone.")
@_json
@click.pass_context
@handle_errors
def create(
    ctx: click.Context,
    config: str,
    overrides: tuple[str, ...],
    preference: str,
    zone: str | None,
    as_json: bool,
) -> None:
    """Place the domain of CONFIG and create it through that host's own create.

    When the host refuses (another scheduler got there first), the next host
    is tried and the inventory corrected. A name already running on any host
    of the fleet is refused, also when another scheduler starts it at the
    same moment. Exit status 1 when no host took it."""
    from xm_core.fleet.operations import create as do_create
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        report = do_create(store, config, overrides, _pref(preference), zone)
    render.created(report, as_json)
    if report.host is None:
        sys.exit(1)


@fleet.command(context_settings=CONTEXT)
@click.argument("domain")
@click.option("--host", default=None, help="The host it runs on, when the name is on several.")
@_json
@click.pass_context
@handle_errors
def destroy(ctx: click.Context, domain: str, host: str | None, as_json: bool) -> None:
    """Destroy DOMAIN through its host's own destroy."""
    from xm_core.fleet.operations import destroy as do_destroy
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        render.destroyed(do_destroy(store, domain, host), as_json)


@fleet.command(context_settings=CONTEXT)
@click.argument("domain")
@click.option(
    "--to", "to", default=None, metavar="HOST", help="The destination (else one is picked)."
)
@click.option("--host", default=None, help="The host it runs on, when the name is on several.")
@_preference
@_json
@click.pass_context
@handle_errors
def migrate(
    ctx: click.Context,
    domain: str,
    to: str | None,
    host: str | None,
    preference: str,
    as_json: bool,
) -> None:
    """Move DOMAIN to another host, checked with the placement rules first.

    Exit status 1 when it cannot move (every refusal is printed)."""
    from xm_core.fleet.operations import migrate as do_migrate
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        report = do_migrate(store, domain, to, host, _pref(preference))
    render.moved(report, as_json)
    if report.target is None:
        sys.exit(1)


@fleet.command(context_settings=CONTEXT)
@click.argument("host")
@_preference
@_json
@click.pass_context
@handle_errors
def evacuate(ctx: click.Context, host: str, preference: str, as_json: bool) -> None:
    """Move every domain of HOST elsewhere, or say per domain why it cannot.

    Exit status 1 when a domain stays."""
    from xm_core.fleet.operations import evacuate as do_evacuate
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        report = do_evacuate(store, host, _pref(preference))
    render.evacuated(report, as_json)
    if not report.complete:
        sys.exit(1)


@fleet.command(context_settings=CONTEXT)
@_json
@click.pass_context
@handle_errors
def audit(ctx: click.Context, as_json: bool) -> None:
    """Hosts off the fleet's policy, co-residence it forbids, inventory drift.

    Exit status 1 when there is a finding."""
    from xm_core.fleet.operations import audit as do_audit
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        report = do_audit(store)
    render.audited(report, as_json)
    if not report.clean:
        sys.exit(1)


@fleet.command(context_settings=CONTEXT)
@_json
@click.pass_context
@handle_errors
def sync(ctx: click.Context, as_json: bool) -> None:
    """Read every host again and repair the inventory where it drifted."""
    from xm_core.fleet.operations import sync as do_sync
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        render.synced(do_sync(store), as_json)


@fleet.command("preview-policy", context_settings=CONTEXT)
@click.argument("file")
@_json
@click.pass_context
@handle_errors
def preview_policy(ctx: click.Context, file: str, as_json: bool) -> None:
    """What loading the policy FILE would do on each host (nothing is changed).

    Exit status 1 when some host would refuse it."""
    from xm_core.fleet.operations import preview_policy as preview
    from xm_core.render import fleet as render

    with _open(ctx) as store:
        report = preview(store, file)
    render.previewed(report, as_json)
    if not report.loadable_everywhere:
        sys.exit(1)
