"""The document around the policy.

ACM032 a plain `<!DOCTYPE Name>`: accepted (it declares nothing and names
nothing to fetch), but it does nothing either, and a later edit that adds an
internal subset or a DTD would make the file refused (ACM001).
"""

from __future__ import annotations

from collections.abc import Iterator

from acm.errors import Diagnostic, Location
from acm.lint.context import LintContext
from acm.source import plain_doctype_line


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    line = plain_doctype_line(ctx.policy.text)
    if line is not None:
        yield ctx.finding(
            "ACM032",
            "the DOCTYPE does nothing (no DTD is ever loaded; the schema decides): remove it",
            Location(ctx.policy.file, line, 1),
        )
