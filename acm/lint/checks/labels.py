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
from acm.lint.context import LintContext, label_word
from acm.source import LabelKind


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    src = ctx.src
    on_line: dict[tuple[str, int], int] = {}  # type groups seen so far, by tag and line
    for label in src.labels:
        name = label.name.text
        if label.kind is LabelKind.VM and not ctx.is_bootstrap(label):
            if src.chwall is not None and not label.chwall_groups:
                yield ctx.finding(
                    "ACM021",
                    f"VM label '{name}' has no Chinese Wall types: under this Chinese Wall "
                    "policy a domain with it can never start",
                    src.at(label.name),
                )
            if src.ste is not None and not label.ste_groups:
                yield ctx.finding(
                    "ACM022",
                    f"VM label '{name}' has no STE types: it can share with nothing, "
                    "not even its backend domain",
                    src.at(label.name),
                )
        if label.kind is LabelKind.RES and src.ste is not None and not label.ste_groups:
            yield ctx.finding(
                "ACM028",
                f"resource label '{name}' has no STE types: no domain can use the resource",
                src.at(label.name),
            )
        for groups, tag, what in (
            (label.ste_groups, "SimpleTypeEnforcementTypes", "STE"),
            (label.chwall_groups, "ChineseWallTypes", "Chinese Wall"),
        ):
            if len(groups) > 1:
                # the column needs the second group's rank among its tags on that line
                second = groups[1]
                nth = on_line.get((tag, second.line), 0) + (groups[0].line == second.line)
                yield ctx.finding(
                    "ACM027",
                    f"{label_word(label)} '{name}' has {len(groups)} {what} type groups: "
                    f"each becomes its own SSID, so the name maps to {len(groups)} ssidrefs",
                    src.locate(second.line, tag, nth=nth),
                )
            for group in groups:
                on_line[(tag, group.line)] = on_line.get((tag, group.line), 0) + 1
