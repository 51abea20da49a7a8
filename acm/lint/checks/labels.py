"""Labels that cannot do what a label is for.

ACM021 a VM label without Chinese Wall types under a Chinese Wall policy.
ACM022 a VM label without STE types under an STE policy.
ACM027 a label with several type groups of one part.
ACM028 a resource label without STE types under an STE policy.

The bootstrap label is left to the compiler, which refuses a bootstrap
without an entry in a part (ACM014).
"""

from __future__ import annotations

from collections.abc import Iterator

from acm.errors import Diagnostic
from acm.lint.context import LintContext
from acm.lint.model import LabelTable

_PARTS = (
    ("ste_groups", "SimpleTypeEnforcementTypes", "STE"),
    ("cw_groups", "ChineseWallTypes", "Chinese Wall"),
)


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    table = policy.labels
    has_ste, has_cw = policy.ste is not None, policy.chwall is not None
    boot = ctx.bootstrap_name
    names, ste_groups, cw_groups, vms = (
        table.names,
        table.ste_groups,
        table.cw_groups,
        table.vm_count,
    )
    for i in range(len(names)):
        ste, cw = ste_groups[i], cw_groups[i]
        if i < vms:
            if (has_cw and not cw or has_ste and not ste) and names[i] != boot:
                if has_cw and not cw:
                    yield ctx.finding(
                        "ACM021",
                        f"VM label '{names[i]}' has no Chinese Wall types: under this Chinese "
                        "Wall policy a domain with it can never start",
                        policy.label_at(i),
                    )
                if has_ste and not ste:
                    yield ctx.finding(
                        "ACM022",
                        f"VM label '{names[i]}' has no STE types: it can share with nothing, "
                        "not even its backend domain",
                        policy.label_at(i),
                    )
        elif has_ste and not ste:
            yield ctx.finding(
                "ACM028",
                f"resource label '{names[i]}' has no STE types: no domain can use the resource",
                policy.label_at(i),
            )
        if len(ste) > 1 or len(cw) > 1:
            yield from _several_groups(ctx, i)


def _several_groups(ctx: LintContext, i: int) -> Iterator[Diagnostic]:
    """ACM027 for label `i`: STE, then Chinese Wall."""
    policy = ctx.policy
    table = policy.labels
    for field, tag, what in _PARTS:
        groups: tuple[int, ...] = getattr(table, field)[i]
        if len(groups) < 2:
            continue
        # the column needs the second group's rank among its tags on that line
        line = groups[1]
        nth = _before_on_line(table, i, field, line) + (groups[0] == line)
        yield ctx.finding(
            "ACM027",
            f"{policy.word(i)} '{table.names[i]}' has {len(groups)} {what} type groups: "
            f"each becomes its own SSID, so the name maps to {len(groups)} ssidrefs",
            policy.locate(line, tag, nth=nth),
        )


def _before_on_line(table: LabelTable, i: int, field: str, line: int) -> int:
    """How many type groups of one part (`field`) the labels before label `i`
    have on `line`. Lines only grow in document order: the labels looked at
    are those that reach that line."""
    count = 0
    groups_of: list[tuple[int, ...]] = getattr(table, field)
    for j in range(i - 1, -1, -1):
        last = max(table.lines[j], *table.ste_groups[j], *table.cw_groups[j])
        if last < line:
            break
        count += groups_of[j].count(line)
    return count
