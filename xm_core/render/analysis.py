"""Output of the analysis commands (`xm acm graph|flows|coexist|diff|decompile`,
the studio's start line).

The results format themselves (`format()` text lines, `as_dict()` JSON);
this module chooses between the two and writes `-o FILE` atomically.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol

from xm_core.render import emit_json, err, out


class Result(Protocol):
    def format(self) -> list[str]: ...

    def as_dict(self) -> dict[str, Any]: ...


INDENT_LIMIT = 1_000_000  # JSON documents larger than this are written compact


def result(res: Result, as_json: bool) -> None:
    """A text report, or its JSON document (indented like every `--json`, but
    compact past a megabyte: a 20,000-label diff is written twice as fast)."""
    if as_json:
        doc = res.as_dict()
        compact = json.dumps(doc, separators=(",", ":"))
        if len(compact) <= INDENT_LIMIT:
            emit_json(doc)
        else:
            out(compact)
        return
    for line in res.format():
        out(line)


def data(payload: bytes, output: str | None) -> None:
    """Bytes to `output` (written atomically) or to stdout."""
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    from xm_core.files.atomic import atomic_write

    atomic_write(Path(output), payload)


def wrote(output: str, summary: str, as_json: bool, doc: dict[str, Any]) -> None:
    """After writing a file: a line on stderr, or the JSON document on stdout."""
    if as_json:
        emit_json({**doc, "output": output})
    else:
        err(f"{summary}; written to {output}")


def with_host_impact(diff: Result, impact: Result, as_json: bool) -> None:
    """`diff --host`: the policy diff, then the host impact (JSON: the diff's
    document with a `host_impact` member)."""
    if as_json:
        doc = {**diff.as_dict(), "host_impact": impact.as_dict()}
        compact = json.dumps(doc, separators=(",", ":"))
        if len(compact) <= INDENT_LIMIT:
            emit_json(doc)
        else:
            out(compact)
        return
    for line in [*diff.format(), "", *impact.format()]:
        out(line)


def studio_started(url: str) -> None:
    """`xm acm studio`: its URL with the access token, at once (a script
    waiting for it reads stdout through a pipe)."""
    out(f"xm-acm studio: {url}")
    sys.stdout.flush()
