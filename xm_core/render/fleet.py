"""`xm fleet` output: text and `--json`."""

from __future__ import annotations

from collections.abc import Sequence

from xm_core.fleet.operations import (
    AuditReport,
    CreateReport,
    DestroyReport,
    EvacuateReport,
    HostsReport,
    InitResult,
    MoveReport,
    PreviewReport,
    SyncReport,
)
from xm_core.fleet.placement import Placement, Verdict
from xm_core.fleet.store import HostRow
from xm_core.render import emit_json, out, printable


def initialised(result: InitResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    out(
        f"Fleet inventory ready: {printable(result.store)} ({result.backend}, "
        f"schema version {result.schema_version})"
    )


def host_added(row: HostRow, as_json: bool) -> None:
    if as_json:
        emit_json({"name": row.name, "root": row.root, "zone": row.zone})
        return
    zone = f" in zone {printable(row.zone)}" if row.zone else ""
    out(
        f"Added host {printable(row.name)}{zone}: {printable(row.root)}, policy "
        f"{printable(row.active_policy)}, {len(row.domains)} domain(s), "
        f"{row.free_memory} of {row.total_memory} MiB free"
    )


def host_removed(row: HostRow) -> None:
    out(f"Removed host {printable(row.name)} from the fleet (the host itself is unchanged)")


def hosts(report: HostsReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    if not report.hosts:
        out(f"No hosts in the fleet ({printable(report.store)})")
        return
    header = (
        f"{'Host':<16} {'Zone':<8} {'Policy':<32} {'Mem':>7} {'Free':>7} {'CPUs':>4} {'Doms':>4}"
    )
    out(header)
    for h in report.hosts:
        pol = report.policies.get(h.policy_hash or "")
        policy = h.active_policy
        if pol is not None:
            policy += f" v{pol.version}" if pol.version else ""
            policy += f" {pol.hash[:8]}"
        out(
            f"{printable(h.name):<16} {printable(h.zone or '-'):<8} {printable(policy):<32} "
            f"{h.total_memory:>7} {h.free_memory:>7} {h.nr_cpus:>4} {len(h.domains):>4}"
        )
        doms = ", ".join(
            f"{printable(d.name)} ({printable(d.label or f'0x{d.ssidref:08x}')})" for d in h.domains
        )
        out(f"    domains: {doms or '(none)'}")
        blocked = report.blocked.get(h.name, [])
        types = printable(", ".join(blocked)) if blocked else "(none)"
        out(f"    blocks Chinese Wall types: {types}")


def _verdict_lines(v: Verdict, indent: str = "  ") -> list[str]:
    return [printable(f"{indent}{v.host}: refused: {r.message}") for r in v.refusals]


def placements(items: Sequence[Placement], as_json: bool) -> None:
    if as_json:
        emit_json({"placements": [p.as_dict() for p in items]})
        return
    # `--count N` repeats the refusals of the hosts nothing was placed on
    # (the very same records): each is escaped once, each domain printed at once
    shown: dict[int, list[str]] = {}
    for p in items:
        label = f" (label {p.label})" if p.label else ""
        if p.chosen is not None:
            others = len(p.candidates) - 1
            also = f"; {others} other host(s) could take it" if others else ""
            lines = [printable(f"{p.name}{label}: host {p.chosen}{also}")]
        else:
            lines = [printable(f"{p.name}{label}: no host can take it")]
        for v in p.refused:
            text = shown.get(id(v.refusals))
            if text is None:
                text = shown[id(v.refusals)] = _verdict_lines(v)
            lines.extend(text)
        out("\n".join(lines))


def created(report: CreateReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    for a in report.attempts:
        for r in a.refusals:
            out(f"  {printable(a.host)}: refused at create: {printable(r.message)}")
            for d in r.details:
                out(f"      {printable(d)}")
    if report.host is not None:
        out(
            f"Started domain {printable(report.name)} on host {printable(report.host)} "
            f"(id {report.domid})"
        )
    else:
        placements([report.placement], False)


def destroyed(report: DestroyReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    out(
        f"Destroyed domain {printable(report.name)} (id {report.domid}) "
        f"on host {printable(report.host)}"
    )


def _move_lines(m: MoveReport) -> list[str]:
    lines = []
    if m.target is not None:
        lines.append(
            f"{printable(m.name)}: moved from {printable(m.source)} to {printable(m.target)} "
            f"(id {m.domid})"
        )
    else:
        lines.append(f"{printable(m.name)}: cannot move from {printable(m.source)}")
        if m.placement is not None:
            for v in m.placement.refused:
                lines.extend(_verdict_lines(v, "    "))
    for a in m.attempts:
        for r in a.refusals:
            lines.append(f"    {printable(a.host)}: refused: {printable(r.message)}")
    return lines


def moved(report: MoveReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    for line in _move_lines(report):
        out(line)


def evacuated(report: EvacuateReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    if not report.moves:
        out(f"Host {printable(report.host)} runs no domain besides Domain-0")
        return
    for m in report.moves:
        for line in _move_lines(m):
            out(line)
    left = sum(1 for m in report.moves if m.target is None)
    if left:
        out(f"Host {printable(report.host)}: {left} domain(s) could not move")
    else:
        out(f"Host {printable(report.host)} is empty (Domain-0 aside)")


def audited(report: AuditReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    policy = printable(report.fleet_policy) if report.fleet_policy else "(none loaded)"
    out(f"Fleet policy: {policy}; {report.hosts} host(s)")
    for f in report.findings:
        out(f"{printable(f.host)}: {f.kind}: {printable(f.message)}")
    if report.clean:
        out("No findings: every host runs the fleet's policy and matches the inventory")


def synced(report: SyncReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    for host, drift in report.repaired.items():
        for line in drift:
            out(f"{printable(host)}: repaired: {printable(line)}")
    for host, message in report.unreadable.items():
        out(f"{printable(host)}: unreadable: {printable(message)}")
    out(f"{len(report.repaired)} of {report.hosts} host(s) repaired")


def previewed(report: PreviewReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.as_dict())
        return
    out(f"Loading {printable(report.policy)} on each host:")
    from xm_core.render.xen34.lifecycle import plan_lines

    for h in report.hosts:
        if h.update is not None:
            plan = h.update.plan
            running = f" (runs {printable(plan.old_name)}"
            running += (
                f" version {printable(plan.old_version)})" if plan and plan.old_version else ")"
            )
            verdict = "would set" if h.loadable else "would be refused"
            out(f"{printable(h.host)}: {verdict}{running if plan else ''}")
            if h.update.refusal:
                out(f"    {printable(h.update.refusal)}")
            for line in h.update.details:
                out(f"    {printable(line.strip())}")
            for line in plan_lines(plan, applied=False) if plan is not None else []:
                out(f"  {printable(line)}")
            continue
        if h.impact is None:
            out(f"{printable(h.host)}: cannot tell: {printable(h.error)}")
            continue
        verdict = "would load" if h.impact.loadable else "would be refused"
        out(f"{printable(h.host)}: {verdict} (runs {printable(h.impact.active)})")
        for line in h.impact.format()[1:]:
            out(f"    {printable(line)}")
