"""The lint checks, one small module per theme. Each module has
`check(ctx) -> Iterator[Diagnostic]` and owns the codes it documents."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from acm.errors import Diagnostic
from acm.lint.checks import bridges, document, labels, names, parts, policy_name
from acm.lint.context import LintContext

Check = Callable[[LintContext], Iterable[Diagnostic]]

CHECKS: tuple[Check, ...] = (
    document.check,
    names.check,
    policy_name.check,
    parts.check,
    labels.check,
    bridges.check,
)
