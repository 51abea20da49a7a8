"""Output of `xm acm explain | test | audit`: text in dry-run's style, and
`--json` (the results' `as_dict()`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xm_core.render import emit_json, out, printable

if TYPE_CHECKING:
    from xm_core.insight.audit import AuditReport
    from xm_core.insight.explain import Explanation, ResourceReason, RunningHolder
    from xm_core.insight.policytest import TestRun


def _verdict(permitted: bool) -> str:
    return "PERMITTED" if permitted else "DENIED"


def _ssid(ssid: int | None) -> str:
    """SSIDs in hex, as `xm acm diff` and the hypervisor's messages write them."""
    return "-" if ssid is None else f"{ssid:x}"


def _names(types: Sequence[str]) -> str:
    return ", ".join(types) if types else "(none)"


# ------------------------------------------------------------------ explain


def explanation(result: Explanation, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    for line in explanation_lines(result):
        out(printable(line))  # a label or name from a config cannot start a line


def explanation_lines(result: Explanation) -> list[str]:
    label = result.label
    who = f"domain '{result.name}'" if result.name else "a domain"
    if label.label is not None:
        who += f" labeled {label.label}"
    lines = [f"Explaining {who} ({result.source}) under policy {result.policy}:"]
    if result.name_in_use is not None:
        lines.append(
            f"note: a domain named '{result.name}' already runs (id {result.name_in_use}); "
            "'xm create' would refuse the name, whatever the ACM decides"
        )
    lines.append("Checking label:")
    if not label.permitted:
        lines.append(f"   {label.label or '(no label)'}: DENIED")
        lines.append(f"   --> {label.message}")
        lines.append("Checking Chinese Wall, STE, resources and backends: (skipped)")
        lines.append(f"Result: {_verdict(result.permitted)}")
        return lines
    if not result.enforced:
        shown = label.label or "(no label)"
        lines.append(f"   {shown}: PERMITTED")
        lines.append(f"   --> no policy is enforced (active policy: {result.policy})")
    else:
        shown = label.label or f"ssidref 0x{label.ssidref:08x}"
        lines.append(f"   {shown}: PERMITTED")
        lines.append(f"   --> ssidref 0x{label.ssidref:08x}")
        if result.chwall is not None:
            lines.append(f"   --> Chinese Wall types: {_names(result.chwall_type_names)}")
        if result.ste is not None:
            lines.append(f"   --> STE types: {_names(result.ste_type_names)}")
    lines += _chwall_lines(result)
    if result.ste is not None:
        lines.append("Checking STE create:")
        lines.append(f"   STE SSID {_ssid(result.ste.ssid)}: {_verdict(result.ste.permitted)}")
        lines += [f"   --> {r}" for r in result.ste.reasons]
    lines += _resource_lines(result)
    lines += _sharing_lines(result)
    if result.device_errors:
        lines.append("Device errors:")
        lines += [f"   {e}" for e in result.device_errors]
    lines.append(f"Result: {_verdict(result.permitted)}")
    return lines


def _holder(b: RunningHolder) -> str:
    label = f", label {b.label}" if b.label else ""
    return f"running domain '{b.name}' (id {b.domid}{label})"


def _chwall_lines(result: Explanation) -> list[str]:
    cw = result.chwall
    if cw is None:
        return []
    lines = ["Checking Chinese Wall:"]
    if not cw.types and cw.reasons:
        lines.append(f"   CHWALL SSID {_ssid(cw.ssid)}: DENIED")
    for t in cw.types:
        if not t.blocked:
            if t.conflict_sets:
                sets = "; ".join(
                    f"conflict set {c.name} {{{', '.join(c.types)}}}" for c in t.conflict_sets
                )
                lines.append(f"   {t.type}: PERMITTED")
                lines.append(f"   --> {sets}: no running domain holds a conflicting type")
            else:
                lines.append(f"   {t.type}: PERMITTED")
                lines.append("   --> in no conflict set")
            continue
        lines.append(f"   {t.type}: DENIED (conflict aggregate {t.aggregate})")
        for c in t.conflict_sets:
            head = f"   --> conflict set {c.name} {{{', '.join(c.types)}}}"
            if not c.blockers:
                lines.append(f"{head}: no running domain holds another of its types")
            for b in c.blockers:
                lines.append(f"{head}: {_holder(b)} holds {', '.join(b.conflicting)}")
        for b in t.unattributed:
            lines.append(f"   --> {_holder(b)} (Chinese Wall types {_names(b.chwall_types)})")
        if not t.blockers:
            lines.append(
                "   --> no running domain accounts for the counter: the host state is "
                "inconsistent (see 'xm acm audit')"
            )
    lines += [f"   --> {r}" for r in cw.reasons]
    return lines


def _resource_lines(result: Explanation) -> list[str]:
    if not result.resources:
        return []
    lines = ["Checking resources:"]
    for r in result.resources:
        lines.append(f"   {r.written} -> {_res_label(r)}: {_verdict(r.permitted)}")
        if r.permitted:
            if r.common_types:
                lines.append(f"   --> common STE types: {_names(r.common_types)}")
            elif not result.enforced:
                lines.append("   --> not checked: no policy is enforced")
            continue
        if r.message:
            lines.append(f"   --> {r.message}")
        if r.other_policy:
            lines.append(
                f"   --> labeled for policy {r.label_policy}, not the active one: "
                "taken as unlabeled (no STE type)"
            )
        if result.enforced:
            lines.append(
                f"   --> domain STE types: {_names(r.domain_types)}; resource STE types: "
                f"{_names(r.resource_types)}; missing: a common type "
                f"(the resource needs one of {_names(r.domain_types)})"
            )
    return lines


def _res_label(r: ResourceReason) -> str:
    if r.label is None:
        return "(unlabeled)"
    return f"{r.label} ({r.label_policy})"


def _sharing_lines(result: Explanation) -> list[str]:
    if not result.sharing:
        return []
    lines = ["Checking backend sharing:"]
    for s in result.sharing:
        label = f", label {s.backend_label}" if s.backend_label else ""
        head = f"   {s.device} -> {s.backend_name} (id {s.backend_domid}{label})"
        lines.append(f"{head}: {_verdict(s.permitted)}")
        if not s.enforced:
            lines.append("   --> not checked: no STE policy is enforced")
        elif s.permitted:
            lines.append(f"   --> common STE types: {_names(s.common_types)}")
        else:
            lines.append(f"   --> {s.message}")
            lines.append(
                f"   --> domain STE types: {_names(s.domain_types)}; backend STE types: "
                f"{_names(s.backend_types)}"
            )
    return lines


# ------------------------------------------------------------------ test


def test_run(run: TestRun, as_json: bool, junit: str | None = None) -> None:
    """The results as text or JSON; with `junit`, also JUnit XML written
    atomically to that file."""
    if junit is not None:
        from pathlib import Path

        from xm_core.files.atomic import atomic_write

        atomic_write(Path(junit), run.junit_xml())
    if as_json:
        emit_json(run.as_dict())
        return
    for line in run.format():
        out(printable(line))  # a step's name from the test file cannot start a line


# ------------------------------------------------------------------ audit


def audit(report: AuditReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    for line in report.format():
        out(line)
