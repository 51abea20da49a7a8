"""Output of `xm acm lint` / `acm-lint`: text, JSON, SARIF 2.1.0 and GitHub
workflow commands. Findings come in file order and, per file, by line."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from acm.errors import Diagnostic, Severity, escape_controls, xml_text
from acm.lint import RULES, LintReport
from xm_core.render import MAX_FINDINGS_PER_FILE, capped, emit_json, err, out

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def one_line(text: str) -> str:
    """A message on one line: names may hold line breaks (ACM016)."""
    return escape_controls(text)


def text_line(d: Diagnostic) -> str:
    """`file:line:col: severity CODE: message`, the compiler's form."""
    loc = d.location
    where = f"{loc.file}:{loc.line}:{loc.column or 1}" if loc.line else loc.file
    return f"{where}: {d.severity.value} {d.code}: {one_line(d.message)}"


def counted(count: int, noun: str) -> str:
    """`1 error`, `0 errors`, `2 warnings` (`info` is a mass noun)."""
    return f"{count} {noun}" if count == 1 or noun == "info" else f"{count} {noun}s"


def summary(report: LintReport, fail_level: Severity) -> dict[str, Any]:
    counts = report.counts()
    return {
        "files": len(report.files),
        "findings": len(report.findings),
        "error": counts[Severity.ERROR],
        "warning": counts[Severity.WARNING],
        "info": counts[Severity.INFO],
        "fail_level": fail_level.value,
        "failed": report.failed(fail_level, counts),
    }


def summary_line(report: LintReport, fail_level: Severity) -> str:
    s = summary(report, fail_level)
    files = counted(s["files"], "file")
    if not s["findings"]:
        return f"acm-lint: no findings in {files}"
    return (
        f"acm-lint: {counted(s['findings'], 'finding')} ({counted(s['error'], 'error')}, "
        f"{counted(s['warning'], 'warning')}, {counted(s['info'], 'info')}) in {files}"
    )


def json_doc(report: LintReport, fail_level: Severity) -> dict[str, Any]:
    return {
        "findings": [d.as_dict() for d in report.findings],
        "files": list(report.files),
        "summary": summary(report, fail_level),
    }


def _version() -> str:
    from importlib import metadata  # SARIF alone names the version (a costly import)

    try:
        return metadata.version("xm-acm")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def artifact_uri(file: str) -> str:
    """A relative path stays relative (code scanning resolves it against the
    checkout); an absolute one becomes a `file:` URI."""
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(PurePosixPath(*path.parts).as_posix(), safe="/")


def sarif_doc(report: LintReport) -> dict[str, Any]:
    codes = list(RULES)
    rules = [
        {
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.rationale},
            "help": {"text": f"{r.summary}. {r.rationale} See docs/lint.md, rule {r.code}."},
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            "properties": {"origin": r.origin.value},
        }
        for r in RULES.values()
    ]
    results = []
    for d in report.findings:
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(d.location.file)}}
        if d.location.line:
            physical["region"] = {
                "startLine": d.location.line,
                "startColumn": d.location.column or 1,
            }
        result: dict[str, Any] = {
            "ruleId": d.code,
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": xml_text(d.message)},
            "locations": [{"physicalLocation": physical}],
        }
        if d.code in RULES:
            result["ruleIndex"] = codes.index(d.code)
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "acm-lint",
                        "version": _version(),
                        "rules": rules,
                    }
                },
                # columns are counted in characters of the decoded line
                "columnKind": "unicodeCodePoints",
                "artifacts": [{"location": {"uri": artifact_uri(f)}} for f in report.files],
                "results": results,
            }
        ],
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """`::error file=F,line=L,col=C::CODE message` (warning / notice likewise)."""
    loc = d.location
    props = [f"file={_escape_property(loc.file)}"]
    if loc.line:
        props += [f"line={loc.line}", f"col={loc.column or 1}"]
    head = f"::{_GITHUB_COMMAND[d.severity]} {','.join(props)}::"
    return head + _escape_data(f"{d.code} {d.message}")


def lint_report(
    report: LintReport, fmt: str, fail_level: Severity, most: int = MAX_FINDINGS_PER_FILE
) -> None:
    """The report in `fmt`; text and github print at most `most` findings
    of a file and then how many more there are (json and sarif carry all)."""
    if fmt == "json":
        emit_json(json_doc(report, fail_level))
        return
    if fmt == "sarif":
        emit_json(sarif_doc(report))
        return
    line = github_line if fmt == "github" else text_line
    if report.findings:
        out("\n".join(capped(report.findings, line, most)))
    err(summary_line(report, fail_level))
