"""The policy parts: their attributes, conflict sets and declared types.

ACM020 `priority` on the STE part next to a Chinese Wall part.
ACM024 a conflict set with fewer than two distinct types.
ACM025 a Chinese Wall type of the bootstrap label in a conflict set.
ACM026 a declared type that no label uses.
"""

from __future__ import annotations

from collections.abc import Iterator

from acm.errors import Diagnostic
from acm.lint.context import LintContext
from acm.source import ConflictSetSource, PartSource


def set_title(cs: ConflictSetSource, number: int) -> str:
    return f"conflict set '{cs.name}'" if cs.name else f"conflict set {number}"


def _nth_on_line(lines: list[int], index: int) -> int:
    """How many of the elements before `index` start on the same line."""
    line = lines[index]
    count = 0
    for other in reversed(lines[:index]):
        if other != line:
            break
        count += 1
    return count


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    src = ctx.policy
    if src.ste is not None and src.ste.priority is not None and src.chwall is not None:
        yield ctx.finding(
            "ACM020",
            f'priority="{src.ste.priority}" on SimpleTypeEnforcement has no effect: '
            "Chinese Wall stays the primary policy",
            src.locate(src.ste.line, "SimpleTypeEnforcement"),
        )

    chwall = src.chwall
    if chwall is not None:
        lines = [cs.line for cs in chwall.conflict_sets]
        for number, cs in enumerate(chwall.conflict_sets):
            distinct = {t.text for t in cs.types}
            if len(distinct) < 2:
                yield ctx.finding(
                    "ACM024",
                    f"{set_title(cs, number)} has only {len(distinct)} type; "
                    "it keeps nothing apart",
                    src.locate(cs.line, "Conflict", nth=_nth_on_line(lines, number)),
                )
        yield from _bootstrap_in_sets(ctx, chwall)

    table = src.labels
    used_ste = table.used_ste() if src.ste is not None else set()
    used_cw = set().union(*table.cw[: table.vm_count]) if chwall is not None else set()
    for part, used, what in ((src.ste, used_ste, "STE"), (chwall, used_cw, "Chinese Wall")):
        yield from _unused(ctx, part, used, what)


def _bootstrap_in_sets(ctx: LintContext, chwall: PartSource) -> Iterator[Diagnostic]:
    boot = ctx.bootstrap_name
    table = ctx.policy.labels
    boot_types = {t for i in range(table.vm_count) if table.names[i] == boot for t in table.cw[i]}
    if not boot_types:
        return
    for number, cs in enumerate(chwall.conflict_sets):
        members = [t.text for t in cs.types]
        for named in cs.types:
            if named.text not in boot_types:
                continue
            others = sorted({m for m in members if m not in boot_types})
            effect = (
                "while Domain-0 runs, no label with "
                + ", ".join(f"'{o}'" for o in others)
                + " can start"
                if others
                else "the set holds no other type, so it walls nothing off"
            )
            yield ctx.finding(
                "ACM025",
                f"the bootstrap label '{boot}' has Chinese Wall type '{named.text}', which is "
                f"in {set_title(cs, number)}: {effect}",
                ctx.policy.at(named),
            )
            break  # one finding per set


def _unused(
    ctx: LintContext, part: PartSource | None, used: set[str], what: str
) -> Iterator[Diagnostic]:
    if part is None:
        return
    seen: set[str] = set()
    for named in part.types:
        if named.text in seen or named.text in used:
            continue
        seen.add(named.text)
        yield ctx.finding(
            "ACM026", f"{what} type '{named.text}' is used by no label", ctx.policy.at(named)
        )
