"""Names that the `.map` cannot carry or that collide.

ACM015 two labels of one kind share a name (the compiler accepts it).
ACM016 a character the .map cannot carry: the compiler's finding (acm.names).
ACM029 `__NULL_LABEL__` as a label name or as the bootstrap.
ACM031 a label or type name longer than the `.map`'s 25 columns.
"""

from __future__ import annotations

from collections.abc import Iterator

from acm.errors import Diagnostic
from acm.lint.context import LintContext, label_word
from acm.model import NULL_LABEL
from acm.names import bad_name_character
from acm.source import LabelKind, Named

MAP_COLUMN = 25  # `%-25s`, in bytes


def bad_character(text: str) -> str | None:
    """What in `text` breaks the `.map`, or None (acm.names: one set for the
    compiler and lint)."""
    return bad_name_character(text)


def _names(ctx: LintContext) -> Iterator[tuple[Named, str, bool]]:
    """(name, what it is, whether it goes into a `%-25s` column), each once."""
    src = ctx.src
    yield src.policy_name, "PolicyName", False
    for part, what in ((src.ste, "STE type"), (src.chwall, "Chinese Wall type")):
        if part is None:
            continue
        seen: set[str] = set()
        for named in part.types:
            if named.text not in seen:
                seen.add(named.text)
                yield named, what, True
    seen_labels: set[tuple[LabelKind, str]] = set()
    for label in src.labels:
        key = (label.kind, label.name.text)
        if key not in seen_labels:
            seen_labels.add(key)
            yield label.name, label_word(label), True


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    src = ctx.src
    for named, what, in_column in _names(ctx):
        # ACM016 (a character the .map cannot carry) is the compiler's finding.
        size = len(named.text.encode("utf-8"))
        if in_column and size > MAP_COLUMN:
            yield ctx.finding(
                "ACM031",
                f"{what} '{named.text}' is {size} bytes long; names over {MAP_COLUMN} "
                "misalign the .map columns",
                src.at(named),
            )

    first: dict[tuple[LabelKind, str], int] = {}
    for label in src.labels:
        key = (label.kind, label.name.text)
        if key in first:
            yield ctx.finding(
                "ACM015",
                f"{label_word(label)} '{label.name.text}' is defined again (first on line "
                f"{first[key]}): its ssidref is no longer unique",
                src.at(label.name),
            )
        else:
            first[key] = label.name.line
        if label.name.text == NULL_LABEL:
            yield ctx.finding(
                "ACM029",
                f"{label_word(label)} is named {NULL_LABEL}, the reserved name of SSID 0",
                src.at(label.name),
            )
    if src.bootstrap is not None and src.bootstrap.text == NULL_LABEL:
        yield ctx.finding(
            "ACM029",
            f"the bootstrap label is {NULL_LABEL}, the reserved name of SSID 0",
            src.locate(src.bootstrap.line, "SubjectLabels"),
        )
