"""Device commands: block-attach/detach/list, network-attach/detach/list,
vtpm-list."""

from __future__ import annotations

import click

from xm_core.cli.common import DEVID, DOMAIN, NUMBERS, handle_errors, paths_of

JSON_HELP = "Print one JSON document instead of text."


@click.command("block-attach", context_settings=NUMBERS)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("domain", type=DOMAIN)
@click.argument("be_dev")
@click.argument("fe_dev")
@click.argument("mode")
@click.argument("bedomain", required=False)
@click.pass_context
@handle_errors
def block_attach(
    ctx: click.Context,
    as_json: bool,
    domain: str,
    be_dev: str,
    fe_dev: str,
    mode: str,
    bedomain: str | None,
) -> None:
    """Attach the resource BE_DEV (e.g. phy:hda1, file:/img/x.img) to DOMAIN
    as FE_DEV (e.g. sdb1) with MODE r or ro (read-only; shared with read-only
    uses), w or rw (read-write; used nowhere else) or w! or rw! (unchecked);
    the backend is BEDOMAIN
    (default Domain-0). The ACM checks the resource and the sharing with
    the backend; a denial changes nothing."""
    from xm_core.host.devices import AttachDenied
    from xm_core.host.devices import block_attach as attach
    from xm_core.render import devices as render

    try:
        result = attach(paths_of(ctx), domain, be_dev, fe_dev, mode, bedomain)
    except AttachDenied as exc:
        if as_json and exc.check is not None:
            from xm_core.render import emit_json

            emit_json({"domain": domain, "attached": False, "check": exc.check.as_dict()})
        raise
    render.attached(result, as_json)


@click.command("network-attach", context_settings=NUMBERS)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("domain", type=DOMAIN)
@click.argument("settings", nargs=-1)
@click.pass_context
@handle_errors
def network_attach(
    ctx: click.Context, as_json: bool, domain: str, settings: tuple[str, ...]
) -> None:
    """Attach a network interface to DOMAIN. SETTINGS: script=, ip=, mac=
    (default: a random 00:16:3e:xx:xx:xx), bridge= (default xenbr0),
    backend= (default Domain-0). A labeled bridge is checked like a disk."""
    from xm_core.host.devices import AttachDenied
    from xm_core.host.devices import network_attach as attach
    from xm_core.render import devices as render

    try:
        result = attach(paths_of(ctx), domain, settings)
    except AttachDenied as exc:
        if as_json and exc.check is not None:
            from xm_core.render import emit_json

            emit_json({"domain": domain, "attached": False, "check": exc.check.as_dict()})
        raise
    render.attached(result, as_json)


def _detach(kind: str, name: str, doc: str) -> click.Command:
    @click.command(name, help=doc, context_settings=NUMBERS)
    @click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
    @click.option(
        "-f", "--force", is_flag=True, help="Remove it without waiting for the guest to let go."
    )
    @click.argument("domain", type=DOMAIN)
    @click.argument("devid", type=DEVID)
    @click.pass_context
    @handle_errors
    def command(ctx: click.Context, as_json: bool, force: bool, domain: str, devid: str) -> None:
        from xm_core.host.devices import detach
        from xm_core.render import devices as render

        render.detached(detach(paths_of(ctx), domain, kind, devid, force), as_json)

    return command


def _list(kind: str, name: str, doc: str) -> click.Command:
    @click.command(name, help=doc, context_settings=NUMBERS)
    @click.option("-l", "--long", "long_", is_flag=True, help="As S-expressions.")
    @click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
    @click.argument("domain", type=DOMAIN)
    @click.pass_context
    @handle_errors
    def command(ctx: click.Context, long_: bool, as_json: bool, domain: str) -> None:
        from xm_core.host.devices import list_devices
        from xm_core.render import devices as render

        render.device_list(list_devices(paths_of(ctx), domain, kind), long_, as_json)

    return command


block_detach = _detach(
    "vbd",
    "block-detach",
    "Detach the block device DEVID (its number or its name, as sdb1) from DOMAIN.",
)
network_detach = _detach(
    "vif", "network-detach", "Detach the network interface DEVID (its index, as 0) from DOMAIN."
)
block_list = _list("vbd", "block-list", "List DOMAIN's block devices (frontend name, backend).")
network_list = _list("vif", "network-list", "List DOMAIN's network interfaces.")


@click.command("vtpm-list", context_settings=NUMBERS)
@click.option("-l", "--long", "long_", is_flag=True, help="As S-expressions.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("domain", type=DOMAIN)
@click.pass_context
@handle_errors
def vtpm_list(ctx: click.Context, long_: bool, as_json: bool, domain: str) -> None:
    """List DOMAIN's virtual TPM devices (the `vtpm` entries of its config)."""
    from xm_core.host.devices import list_vtpms
    from xm_core.render import devices as render

    render.vtpm_list(list_vtpms(paths_of(ctx), domain), long_, as_json)
