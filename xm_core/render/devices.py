"""Output of the device commands (`block-*`, `network-*`)."""

# Xen's own printf-style formats are kept verbatim: they are the contract.
# ruff: noqa: UP031

from __future__ import annotations

from typing import Any

from xm_core.render import emit_json, out
from xm_core.render.domains import device_sxp, sxp_lines


def attached(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())


def detached(record: Any, as_json: bool) -> None:
    if as_json:
        from xm_core.host.devices import device_dict

        emit_json({"detached": True, **device_dict(record)})


def device_list(result: Any, long: bool, as_json: bool) -> None:
    """`block-list`: `Vdev Device BE Mode Resource`; `network-list`:
    `Idx BE MAC Addr. Device Bridge IP`; `-l`: one S-expression each."""
    if as_json:
        emit_json(result.as_dict())
        return
    if long:
        for dev in result.devices:
            for line in sxp_lines(device_sxp(dev)):
                out(line)
        return
    if not result.devices:
        return
    if result.kind == "vbd":
        out("%-5s %-8s %-3s %-4s %s" % ("Vdev", "Device", "BE", "Mode", "Resource"))
        for d in result.devices:
            out(
                "%-5d %-8s %-3d %-4s %s"
                % (d.devid, d.frontend, d.backend, d.mode, d.params.get("uname", d.written))
            )
    else:
        out("%-3s %-3s %-17s %-6s %-8s %s" % ("Idx", "BE", "MAC Addr.", "Device", "Bridge", "IP"))
        for d in result.devices:
            out(
                "%-3d %-3d %-17s %-6s %-8s %s"
                % (
                    d.devid,
                    d.backend,
                    d.params.get("mac", ""),
                    d.frontend,
                    d.params.get("bridge", ""),
                    d.params.get("ip", "-") or "-",
                )
            )
