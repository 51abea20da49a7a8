"""Output of the host commands: Xen 3.0.4's text formats, and `--json`.

JSON documents (stable keys) are each result's `as_dict()`; this module
only emits them.
"""

# Xen's own printf-style formats are kept verbatim: they are the contract.
# ruff: noqa: UP031

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from xm_core.render import emit_json, out, printable

if TYPE_CHECKING:
    from xm_core.host.store import DomainRecord

# ------------------------------------------------------------------ S-expressions

SxpValue = Any  # str | int | float | list[SxpValue]


def _atom(value: Any) -> str:
    """An atom as Xen's sxp.show wrote it: bare when safe, else quoted with
    Python's escapes, so a control character in a value (a line break in a
    label) stays on its line."""
    text = str(value)
    if text == "" or any(c in text for c in " \t\n()'\"") or printable(text) != text:
        return "'" + printable(text.replace("\\", "\\\\").replace("'", "\\'")) + "'"
    return text


def sxp_lines(value: SxpValue, indent: int = 0) -> list[str]:
    """Xen's PrettyPrint layout: a list of atoms on one line, else its head,
    its children indented by 4, and `)` on a line of its own."""
    pad = " " * indent
    if not isinstance(value, list):
        return [pad + _atom(value)]
    if all(not isinstance(v, list) for v in value):
        return [pad + "(" + " ".join(_atom(v) for v in value) + ")"]
    head, rest = (value[0], value[1:]) if not isinstance(value[0], list) else ("", value)
    lines = [pad + "(" + (_atom(head) if head != "" else "")]
    for child in rest:
        lines.extend(sxp_lines(child, indent + 4))
    lines.append(pad + ")")
    return lines


# ------------------------------------------------------------------ list


def domain_sxp(listed: Any) -> SxpValue:
    from xm_core.host.domains import state_string

    r = listed.record
    sx: list[SxpValue] = [
        "domain",
        ["domid", r.domid],
        ["uuid", r.uuid],
        ["vcpus", r.vcpus],
        ["memory", r.memory],
        ["maxmem", r.maxmem],
        ["name", r.name],
        ["state", state_string(r)],
        ["cpu_time", f"{r.cpu_time:.1f}"],
        ["online_vcpus", r.vcpus],
        ["up_time", f"{max(time.time() - r.created_at, 0.0):.1f}"],
        ["start_time", f"{r.created_at:.2f}"],
    ]
    security: list[SxpValue] = ["security"]
    if r.label and r.policy:
        security.append(["access_control", ["policy", r.policy], ["label", r.label]])
    security.append(["ssidref", r.ssidref])
    sx.append(security)
    for dev in listed.devices:
        sx.append(["device", device_sxp(dev)])
    return sx


def device_sxp(dev: Any) -> SxpValue:
    if dev.kind == "vbd":
        return [
            "vbd",
            ["virtual-device", dev.devid],
            ["dev", dev.frontend],
            ["uname", dev.params.get("uname", dev.written)],
            ["resource", dev.resource],
            ["mode", dev.mode],
            ["device-type", dev.params.get("type", "disk")],
            ["backend", dev.backend],
        ]
    sx: list[SxpValue] = ["vif", ["handle", dev.devid], ["dev", dev.frontend]]
    for key in ("mac", "bridge", "ip", "script"):
        if dev.params.get(key):
            sx.append([key, dev.params[key]])
    sx.append(["backend", dev.backend])
    return sx


def domain_list(result: Any, mode: str, as_json: bool) -> None:
    """`mode`: "brief", "label" or "long"."""
    if as_json:
        emit_json(result.as_dict())
        return
    if mode == "long":
        for listed in result.domains:
            for line in sxp_lines(domain_sxp(listed)):
                out(line)
        return
    # Xen's Mem column is 5 wide; a host with more memory widens it, so that
    # the columns stay aligned (a Mem of 100000 MiB and more).
    mem = max([5, *(len(str(listed.record.memory)) for listed in result.domains)])
    if mode == "label":
        out(
            "%-32s %3s %*s %5s %5s %9s %-8s"
            % ("Name", "ID", mem, "Mem", "VCPUs", "State", "Time(s)", "Label")
        )
        rows = []
        for listed in result.domains:
            d = {**_list_fields(listed.record), "seclabel": printable(listed.label)}
            line = "%s %*d %s" % (
                "%(name)-32s %(domid)3s" % d,
                mem,
                listed.record.memory,
                "%(vcpus)5d %(state)10s %(cpu_time)8.1f %(seclabel)9s" % d,
            )
            rows.append((line, listed.label))
        rows.sort(key=lambda row: row[1].lower())  # stable: id order within a label
        for line, _ in rows:
            out(line)
        return
    out("%-40s %3s %*s %5s %10s %9s" % ("Name", "ID", mem, "Mem", "VCPUs", "State", "Time(s)"))
    for listed in result.domains:
        d = _list_fields(listed.record)
        out(
            "%s %*d %s"
            % (
                "%(name)-40s %(domid)3s" % d,
                mem,
                listed.record.memory,
                "%(vcpus)5d %(state)10s %(cpu_time)8.1f" % d,
            )
        )


def _list_fields(r: DomainRecord) -> dict[str, object]:
    """The fields of an `xm list` line, as Xen's `%`-format fills them."""
    from xm_core.host.domains import state_string

    return {
        "name": printable(r.name),
        "domid": str(r.domid),
        "mem": r.memory,
        "vcpus": r.vcpus,
        "state": state_string(r),
        "cpu_time": r.cpu_time,
    }


# ------------------------------------------------------------------ create, dry-run


def created(outcome: Any, as_json: bool) -> None:
    if as_json:
        emit_json(outcome.as_dict())
        return
    out(f"Started domain {outcome.name}")


def config_preview(preview: Any, as_json: bool) -> None:
    """`xm create -n`: Xen's SXP of the domain, or the settings as JSON."""
    if as_json:
        emit_json(preview.as_dict())
        return
    for line in sxp_lines(preview.sxp):
        out(line)


def _line(text: str) -> None:
    """One report line: a label or resource name read from a config cannot
    start a line of its own (every control character escaped)."""
    out(printable(text))


def dry_run(report: Any, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    label = report.label
    _line("Checking domain:")
    if label.permitted:
        _line(f"   {report.name}: PERMITTED")
    else:
        _line(f"   {report.name}: DENIED")
        _line(f"   --> {label.message}")
        _line("Checking resources: (skipped)")
        _line("Checking Chinese Wall: (skipped)")
        _line("Checking backend sharing: (skipped)")
        _line("Dry Run: FAILED")
        return
    _line("Checking resources:")
    dom_label = label.label if label.label is not None else ""
    dom_policy = label.policy if label.policy is not None else "NULL"
    for check in report.devices:
        dev = check.device
        if dev.kind != "vbd" and check.resource is None:
            continue  # an unlabeled bridge is not a controlled resource
        shown = dev.written_resource
        if check.resource is None:
            permitted = not (check.error and check.backend is not None)
        else:
            permitted = check.resource.permitted
        if permitted:
            _line(f"   {shown}: PERMITTED")
            continue
        _line(f"   {shown}: DENIED")
        res_label = check.resource_label if check.resource_label is not None else "__NULL_LABEL__"
        res_policy = check.resource_policy if check.resource_policy is not None else "NULL"
        _line(f"   --> res: {res_label} ({res_policy})")
        _line(f"   --> dom: {dom_label} ({dom_policy})")
    _line("Checking Chinese Wall:")
    decision = report.decision
    if decision is None or decision.permitted or not decision.conflicts:
        if decision is not None and not decision.permitted:
            _line(f"   {report.name}: DENIED")
            for reason in decision.reasons:
                _line(f"   --> {reason}")
        else:
            _line(f"   {report.name}: PERMITTED")
    else:
        _line(f"   {report.name}: DENIED")
        for line in report.chwall_lines:
            _line(f"   --> {line}")
    _line("Checking backend sharing:")
    for check in report.devices:
        backend = check.backend.name if check.backend is not None else "?"
        what = f"{check.device.display} -> {backend}"
        if check.error and check.backend is None:
            _line(f"   {what}: DENIED")
            _line(f"   --> {check.error}")
        elif check.sharing is None or check.sharing.permitted:
            _line(f"   {what}: PERMITTED")
        else:
            _line(f"   {what}: DENIED")
            _line(f"   --> no common STE type: dom: {dom_label} ({dom_policy}), backend: {backend}")
    _line("Dry Run: PASSED" if report.passed else "Dry Run: FAILED")


# ------------------------------------------------------------------ simple results


def domains_done(records: Sequence[Any], verb: str, as_json: bool = False) -> None:
    if as_json:
        emit_json([{"domid": r.domid, "name": r.name, "action": verb} for r in records])


def identity(record: Any, field: str, as_json: bool) -> None:
    """`domid` / `domname`: the one value, or both as JSON."""
    if as_json:
        emit_json({"domid": record.domid, "name": record.name})
        return
    out(str(getattr(record, field)))


def uptime(rows: Sequence[Any], short: bool, as_json: bool) -> None:
    if as_json:
        emit_json([{"name": r.name, "domid": r.domid, "seconds": r.seconds} for r in rows])
        return
    if not short:
        out("Name                              ID Uptime")
    for r in rows:
        secs = r.seconds
        days, secs = divmod(secs, 86400)
        hours, secs = divmod(secs, 3600)
        minutes, seconds = divmod(secs, 60)
        up = ""
        if days > 0:
            up += f"{days} day" + ("s" if days > 1 else "") + ", "
        up += "%2d:%02d" % (hours, minutes)
        if short:
            now = time.strftime(" %H:%M:%S")
            out(f"{now} up {up}, {r.name} ({r.domid})")
        else:
            out("%-32s %3s " % (r.name, r.domid) + up + ":%02d" % seconds)


# ------------------------------------------------------------------ policy


def loaded(result: Any, as_json: bool) -> None:
    """Nothing on success, as Xen's tool; a domain that reads as another
    label after `--keep-ssidrefs` gets one line."""
    if as_json:
        emit_json(result.as_dict())
        return
    for r in result.relabeled:
        out(
            f"Domain '{r.name}' (id {r.domid}) keeps ssidref 0x{r.ssidref:08x}: "
            f"label '{r.old}' is now {r.reads_as}\n"
        )


def dump_policy_text(dump: Any) -> str:
    """The `secpol_tool getpolicy` layout of the active policy, with the live
    Chinese Wall counters, then (new) the STE statistics. Offsets and
    lengths are those of the buffer Xen's getpolicy returned: the running
    types and conflict aggregate follow the conflict sets, and each part is
    padded to 8 bytes."""
    from acm.binfmt import encode_reference
    from acm.model import PolicyCode

    binary = dump.binary
    parts: dict[PolicyCode, tuple[int, list[str]]] = {}
    if binary.chwall is not None:
        parts[PolicyCode.CHWALL] = _chwall_dump(
            binary.chwall, dump.running_types, dump.conflict_aggregate
        )
    if binary.ste is not None:
        parts[PolicyCode.STE] = _ste_dump(binary.ste)
    # Xen 3.4's header (policy version 4) is 60 bytes: it adds the XML version and hash.
    header_size = 60 if binary.versioned else 32
    primary_off = header_size + len(encode_reference(binary.reference_name))
    primary_len = parts[binary.primary][0] if binary.primary in parts else 0
    secondary_off = primary_off + primary_len
    secondary_len = parts[binary.secondary][0] if binary.secondary in parts else 0
    total = secondary_off + secondary_len
    text = [
        "Policy dump:\n",
        "============\n",
        f"POLICY REFERENCE = {binary.reference_name}.\n",
        *(
            [
                "PolicyVer = 4.\n",
                f"XML Vers. = {binary.xml_version[0]}.{binary.xml_version[1]}\n",
            ]
            if binary.xml_version is not None
            else ["PolicyVer = 2.\n"]
        ),
        "Magic     = 1debc.\n",
        f"Len       = {total:x}.\n",
        f"Primary   = {binary.primary.title} (c={int(binary.primary):x}, off={primary_off:x}).\n",
        f"Secondary = {binary.secondary.title} "
        f"(c={int(binary.secondary):x}, off={secondary_off:x}).\n",
    ]
    for code, label in ((binary.primary, "Primary"), (binary.secondary, "Secondary")):
        if code in parts:
            text.extend(parts[code][1])
        else:
            text.append(f"{label} policy is NULL Policy (n/a).\n")
    if binary.ste is not None:
        s = dump.stats
        text.extend(
            [
                "STE-Policy Security Hook Statistics:\n",
                f"ste: event_channel eval_count      = {s.ec_eval}\n",
                f"ste: event_channel denied_count    = {s.ec_denied}\n",
                f"ste: event_channel cache_hit_count = {s.ec_cachehit}\n",
                "ste:\n",
                f"ste: grant_table   eval_count      = {s.gt_eval}\n",
                f"ste: grant_table   denied_count    = {s.gt_denied}\n",
                f"ste: grant_table   cache_hit_count = {s.gt_cachehit}\n",
            ]
        )
    return "".join(text)


def _cells(rows: Iterable[Sequence[int]], max_types: int) -> list[str]:
    out_rows = []
    for types in rows:
        row = ["00 "] * max_types
        for t in types:
            row[t] = "01 "
        out_rows.append("".join(row))
    return out_rows


def _counter_cells(values: Sequence[int]) -> str:
    return "".join(f"{v & 0xFFFF:02x} " for v in values)


def _align8(n: int) -> int:
    return (n + 7) & ~7


def _chwall_dump(
    cw: Any, running: Sequence[int], aggregate: Sequence[int]
) -> tuple[int, list[str]]:
    t, s, c = cw.max_types, cw.max_ssidrefs, len(cw.conflict_sets)
    ssid_off = 36
    conflicts_off = ssid_off + 2 * t * s
    running_off = conflicts_off + 2 * t * c
    aggregate_off = running_off + 2 * t
    length = _align8(aggregate_off + 2 * t)
    text = [
        "\n\nChinese Wall policy:\n",
        "====================\n",
        "Policy version= 1.\n",
        f"Max Types     = {t:x}.\n",
        f"Max Ssidrefs  = {s:x}.\n",
        f"Max ConfSets  = {c:x}.\n",
        f"Ssidrefs Off  = {ssid_off:x}.\n",
        f"Conflicts Off = {conflicts_off:x}.\n",
        f"Runing T. Off = {running_off:x}.\n",
        f"C. Agg. Off   = {aggregate_off:x}.\n",
        "\nSSID To CHWALL-Type matrix:\n",
    ]
    for i, cells in enumerate(_cells(cw.ssids, t)):
        text.append("\n   ssidref%2x:  " % i + cells)
    text.append("\n\nConfict Sets:\n")
    for i, cells in enumerate(_cells(cw.conflict_sets, t)):
        text.append("\n   c-set%2x:    " % i + cells)
    text.append("\n")
    text.append("\nRunning\nTypes:         " + _counter_cells(running) + "\n")
    text.append("\nConflict\nAggregate Set: " + _counter_cells(aggregate) + "\n\n")
    return length, text


def _ste_dump(ste: Any) -> tuple[int, list[str]]:
    t, s = ste.max_types, ste.max_ssidrefs
    length = _align8(20 + 2 * t * s)
    text = [
        "\nSimple Type Enforcement policy:\n",
        "===============================\n",
        "Policy version= 1.\n",
        f"Max Types     = {t:x}.\n",
        f"Max Ssidrefs  = {s:x}.\n",
        "Ssidrefs Off  = 14.\n",
        "\nSSID To STE-Type matrix:\n",
    ]
    for i, cells in enumerate(_cells(ste.ssids, t)):
        text.append("\n   ssidref%2x: " % i + cells)
    text.append("\n\n")
    return length, text


def dump_policy(dump: Any, as_json: bool) -> None:
    if as_json:
        b = dump.binary
        emit_json(
            {
                "policy": b.reference_name,
                "primary": b.primary.name,
                "secondary": b.secondary.name,
                "chwall": None
                if b.chwall is None
                else {
                    "max_types": b.chwall.max_types,
                    "max_ssidrefs": b.chwall.max_ssidrefs,
                    "ssids": [list(r) for r in b.chwall.ssids],
                    "conflict_sets": [list(r) for r in b.chwall.conflict_sets],
                    "running_types": list(dump.running_types),
                    "conflict_aggregate": list(dump.conflict_aggregate),
                },
                "ste": None
                if b.ste is None
                else {
                    "max_types": b.ste.max_types,
                    "max_ssidrefs": b.ste.max_ssidrefs,
                    "ssids": [list(r) for r in b.ste.ssids],
                    "statistics": {
                        "event_channel": {
                            "eval_count": dump.stats.ec_eval,
                            "denied_count": dump.stats.ec_denied,
                            "cache_hit_count": dump.stats.ec_cachehit,
                        },
                        "grant_table": {
                            "eval_count": dump.stats.gt_eval,
                            "denied_count": dump.stats.gt_denied,
                            "cache_hit_count": dump.stats.gt_cachehit,
                        },
                    },
                },
            }
        )
        return
    import sys

    sys.stdout.write(dump_policy_text(dump))


# ------------------------------------------------------------------ info, dmesg, log


def info(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    for key, val in result.facts:
        out("%-23s: %s" % (key, val))


def messages(found: Sequence[Any], as_json: bool, stamp: bool) -> None:
    if as_json:
        emit_json([{"seq": m.seq, "time": m.at, "text": m.text} for m in found])
        return
    for m in found:
        if stamp:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.at))
            out(f"[{when} xend] {m.text}")
        else:
            out(m.text)
