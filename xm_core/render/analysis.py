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


# ---------------------------------------------------------------- xm acm flask

_FLASK_SECTIONS = (
    ("carried", "Carried over:"),
    ("approximate", "Mapped approximately:"),
    ("not-expressible", "Not expressible in FLASK:"),
)


def flask_report_lines(export: Any) -> list[str]:
    """The export's report as text: one section per kind, each element with
    its place in the ACM policy and what it became."""
    from acm.errors import escape_controls

    lines = [
        f"FLASK export of policy '{escape_controls(export.policy)}': module "
        f"{export.module_name} (modules.conf: {export.modules_conf})"
    ]
    for status, title in _FLASK_SECTIONS:
        items = [r for r in export.report if r.status.value == status]
        if not items:
            continue
        lines += ["", title]
        for r in items:
            where = f"{escape_controls(r.location)}: " if r.location else ""
            became = f" -> {r.flask}" if r.flask else ""
            lines.append(f"  {where}{escape_controls(r.element)}{became}")
            lines.append(f"      {r.note}")
    return lines


def flask_files(export: Any) -> dict[str, str]:
    """Every file `xm acm flask -o DIR` writes, by name: the export's own and
    the report as text and as JSON (the studio offers the same files)."""
    texts: dict[str, str] = export.files()
    texts[f"{export.module_name}.report.txt"] = "\n".join(flask_report_lines(export)) + "\n"
    texts[f"{export.module_name}.report.json"] = json.dumps(export.as_dict(), indent=1) + "\n"
    return texts


def flask_export(export: Any, folder: str, files: list[str], as_json: bool) -> None:
    """`xm acm flask POLICY -o DIR`: the report (text or JSON) on stdout."""
    if as_json:
        emit_json({**export.as_dict(), "output": folder, "files": files})
        return
    for line in flask_report_lines(export):
        out(line)
    err(f"{export.summary()}; written to {folder}: {', '.join(files)}")


def flask_configs(results: list[dict[str, Any]], as_json: bool) -> None:
    """`xm acm flask --configs`: one line per config (JSON: the list)."""
    from acm.errors import escape_controls

    if as_json:
        emit_json({"configs": results})
        return
    for r in results:
        path = escape_controls(r["config"])
        if r["status"] == "rewritten":
            out(f"{path}: seclabel = '{r['seclabel']}' (backup: {escape_controls(r['backup'])})")
        elif r["status"] == "unlabeled":
            out(f"{path}: no access_control line; left as it is")
        else:
            err(f"Error: {path}: {escape_controls(r['error'])}")
