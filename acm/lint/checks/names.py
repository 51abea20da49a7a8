"""Names that the `.map` cannot carry or that collide.

ACM015 two labels of one kind share a name (the compiler accepts it).
ACM016 a character the .map cannot carry: the compiler's finding (acm.names).
ACM029 `__NULL_LABEL__` as a label name or as the bootstrap.
ACM031 a label or type name longer than the `.map`'s 25 columns.
"""

from __future__ import annotations

from collections.abc import Iterator

from acm.errors import Diagnostic, Location
from acm.lint.context import LintContext
from acm.model import NULL_LABEL
from acm.names import bad_name_character

MAP_COLUMN = 25  # `%-25s`, in bytes


def bad_character(text: str) -> str | None:
    """What in `text` breaks the `.map`, or None (acm.names: one set for the
    compiler and lint)."""
    return bad_name_character(text)


def _too_long(text: str) -> int:
    """Its size in bytes when over the `.map`'s column, else 0."""
    if len(text) <= MAP_COLUMN and text.isascii():
        return 0  # a character is at least a byte, an ASCII one exactly one
    size = len(text.encode("utf-8"))
    return size if size > MAP_COLUMN else 0


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    # ACM016 (a character the .map cannot carry) is the compiler's finding.
    for part, what in ((policy.ste, "STE type"), (policy.chwall, "Chinese Wall type")):
        if part is None:
            continue
        seen: set[str] = set()
        for named in part.types:
            if named.text not in seen:
                seen.add(named.text)
                size = _too_long(named.text)
                if size:
                    yield _long(ctx, what, named.text, size, policy.at(named))
    table = policy.labels
    names, vms = table.names, table.vm_count
    # name -> the first label of that name, VM labels and resource labels
    # apart (made from the end: an earlier label's entry replaces a later one's)
    count = len(names)
    first = (
        dict(zip(reversed(names[:vms]), range(vms - 1, -1, -1), strict=True)),
        dict(zip(reversed(names[vms:]), range(count - 1, vms - 1, -1), strict=True)),
    )
    # Tens of thousands of labels are looked at one by one only when a
    # name may be too long, is used twice or is the reserved one.
    if names and (max(map(len, names)) > MAP_COLUMN or not "".join(names).isascii()):
        for i in sorted({*first[0].values(), *first[1].values()}):
            size = _too_long(names[i])
            if size:
                yield _long(ctx, policy.word(i), names[i], size, policy.label_at(i))
    each_once = len(first[0]) + len(first[1]) == count
    plain = each_once and all(NULL_LABEL not in f for f in first)
    for i, name in enumerate(() if plain else names):
        earlier = first[i >= vms][name]
        if earlier != i:
            yield ctx.finding(
                "ACM015",
                f"{policy.word(i)} '{name}' is defined again (first on line "
                f"{table.lines[earlier]}): its ssidref is no longer unique",
                policy.label_at(i),
            )
        if name == NULL_LABEL:
            yield ctx.finding(
                "ACM029",
                f"{policy.word(i)} is named {NULL_LABEL}, the reserved name of SSID 0",
                policy.label_at(i),
            )
    boot = policy.bootstrap
    if boot is not None and boot.text == NULL_LABEL:
        yield ctx.finding(
            "ACM029",
            f"the bootstrap label is {NULL_LABEL}, the reserved name of SSID 0",
            policy.locate(boot.line, "SubjectLabels"),
        )


def _long(ctx: LintContext, what: str, text: str, size: int, where: Location) -> Diagnostic:
    return ctx.finding(
        "ACM031",
        f"{what} '{text}' is {size} bytes long; names over {MAP_COLUMN} misalign the .map columns",
        where,
    )
