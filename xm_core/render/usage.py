"""`xm help`: the command lists in the layout of Xen 3.0.4's `main.py`
(` %-20s %-50s`, summaries wrapped at 50 columns, continued 22 columns in)."""

# Xen's printf-style format is kept verbatim: scripts read these lists.
# ruff: noqa: UP031

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from xm_core.render import out

USAGE = "Usage: xm <subcommand> [args]"
FOOTER = (
    "<Domain> is a domain's name or its id.",
    "`xm <subcommand> --help` (or `xm help <subcommand>`) shows one command in full.",
)

Group = tuple[str, Sequence[tuple[str, str | None]]]


def _rows(commands: Sequence[tuple[str, str | None]]) -> list[str]:
    lines = []
    for name, summary in commands:
        if summary is None:  # not a command of this installation
            continue
        wrapped = textwrap.wrap(summary, 50) or [""]
        lines.append((" %-20s %-50s" % (name, wrapped[0])).rstrip())
        lines.extend(" " * 22 + more for more in wrapped[1:])
    return lines


def command_list(groups: Sequence[Group], grouped: bool) -> None:
    """The short list (one untitled group) or the full list, grouped."""
    out(USAGE)
    out()
    out("Manage the domains and the access control policy of a Xen host.")
    out()
    if not grouped:
        out("Common 'xm' commands:")
        out()
        for line in _rows(groups[0][1]):
            out(line)
    else:
        out("xm full list of subcommands:")
        for title, commands in groups:
            rows = _rows(commands)
            if not rows:
                continue
            out()
            out(f"{title}:")
            for line in rows:
                out(line)
    out()
    for line in FOOTER:
        out(line)
    if not grouped:
        out("For the full list of subcommands run 'xm help --long'.")
