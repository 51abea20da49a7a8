"""Output of the device commands (`block-*`, `network-*`, `vtpm-list`)."""

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


def vtpm_list(result: Any, long: bool, as_json: bool) -> None:
    """Xen's `vtpm-list` table (`Idx  BE handle state evt-ch ring-ref
    BE-path`); no channels exist in the model, so evt-ch and ring-ref are
    -1 (Xen's value for "unknown") and the state is 4 (connected)."""
    if as_json:
        emit_json(result.as_dict())
        return
    if long:
        for v in result.vtpms:
            sx: list[Any] = ["vtpm", ["handle", v.index], ["instance", v.instance]]
            sx.append(["backend", v.backend])
            for line in sxp_lines(sx):
                out(line)
        return
    if not result.vtpms:
        return
    out("Idx  BE handle state evt-ch ring-ref BE-path")
    for v in result.vtpms:
        be_path = f"/local/domain/{v.backend}/backend/vtpm/{result.domid}/{v.index}"
        out(
            "%-3d   %-3d  %-3d   %-3d    %-3d    %-5d %-30s  "
            % (v.index, v.backend, v.index, 4, -1, -1, be_path)
        )
