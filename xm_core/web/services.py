"""What the studio's pages ask, answered by the library and the host code.

Nothing is decided here: findings come from the compiler and lint, graphs,
flows, co-runnable sets and diffs from `acm.analysis`, explanations and host
impact from `xm_core.insight`, saving and loading from `xm_core.host`. Where
the CLI prints a result, the studio shows the same text, produced by the
same `render` function (captured, not rewritten).
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from acm.errors import Diagnostic, Location, PolicyError, Severity
from xm_core.errors import UsageError, XmError
from xm_core.files.paths import HostPaths, PolicyFiles

_OUTPUT_LOCK = threading.Lock()  # render writes to sys.stdout/err: one capture at a time


class CliOutput:
    """What a command printed and its exit status."""

    def __init__(self, status: int, stdout: str, stderr: str) -> None:
        self.status, self.stdout, self.stderr = status, stdout, stderr

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "stdout": self.stdout, "stderr": self.stderr}


def as_cli(action: Callable[[], int | None]) -> CliOutput:
    """Run `action` (which prints through `render`) as `handle_errors` runs a
    command: a failure is printed by `render.failure` with its exit status."""
    from xm_core import render

    out, err = io.StringIO(), io.StringIO()
    with _OUTPUT_LOCK, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = action() or 0
        except (PolicyError, XmError, OSError) as exc:
            status = render.failure(exc)
    return CliOutput(status, out.getvalue(), err.getvalue())


# ------------------------------------------------------------------ names and files


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def policy_files(paths: HostPaths, name: str) -> PolicyFiles:
    """The files of a dotted policy name (ACM005 for a bad one), refused when
    any of them resolves outside the policy root (a symlink out)."""
    files = paths.policy_files(name)
    for file in (files.xml, files.map, files.bin):
        if not _inside(Path(file), paths.policies):
            raise UsageError(f"Policy '{name}' leads outside the policy root; refused")
    return files


def config_file(paths: HostPaths, name: str) -> str:
    """A domain config under <root>/etc/xen, by a relative name; refused when
    it is absolute, holds `..` or resolves outside (a symlink out)."""
    if not name or name.startswith("/") or "\0" in name or ".." in Path(name).parts:
        raise UsageError(f"Config '{name}': give a name under /etc/xen, without '..'")
    path = paths.etc_xen / name
    if not _inside(path, paths.etc_xen):
        raise UsageError(f"Config '{name}' leads outside /etc/xen; refused")
    if not path.is_file():
        raise UsageError(f"Config '{name}' not found under /etc/xen")
    return str(path)


def list_policies(paths: HostPaths) -> list[str]:
    """The dotted names of the XML policies under the policy root."""
    from acm.names import POLICY_SUFFIX

    root = paths.policies
    if not root.is_dir():
        return []
    names = []
    for xml in sorted(root.rglob("*" + POLICY_SUFFIX)):
        if not _inside(xml, root):
            continue
        rel = xml.relative_to(root).as_posix()[: -len(POLICY_SUFFIX)]
        names.append(rel.replace("/", "."))
    return names


def list_configs(paths: HostPaths) -> list[str]:
    from xm_core.insight.audit import config_files

    return [str(p.relative_to(paths.etc_xen)) for p in config_files(paths)]


def read_policy_file(path: str) -> bytes:
    """A policy file read as every tool reads one (`acm.inputfile`): a FIFO
    or a link to /dev/zero is refused instead of blocking or filling memory
    (the studio answers one request at a time)."""
    from acm.inputfile import MAX_POLICY_BYTES, InputFileError, read_input

    try:
        return read_input(path, MAX_POLICY_BYTES)
    except InputFileError as exc:
        raise XmError(f"Policy file '{exc.path}' {exc.reason}") from None


def read_policy(paths: HostPaths, name: str) -> bytes:
    return read_policy_file(policy_files(paths, name).xml)


# ------------------------------------------------------------------ checking


def _finding(d: Diagnostic) -> dict[str, Any]:
    return {**d.as_dict(), "text": d.format()}


def place_of(paths: HostPaths, name: str) -> Any:
    """The PolicyName that NAME's place under the policy root asks for (lint's
    ACM018), or None for a name that is no policy name."""
    from acm.lint.checks.policy_name import policy_place

    try:
        return policy_place(policy_files(paths, name).xml, policy_root=paths.policies)
    except (PolicyError, XmError):
        return None


def _seen(d: Diagnostic) -> dict[str, Any]:
    """A finding as the editor shows it (its file is the one being edited)."""
    loc = d.location
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "line": loc.line or 0,
        "column": loc.column or 0,
    }


def check(xml: bytes, file: str, place: Any = None) -> dict[str, Any]:
    """Every finding of the compiler and lint on `xml` (parse and schema
    findings when it gets no further), with the editor's outline when the
    document is well-formed. `place`: where the policy is saved (ACM018)."""
    return _checked(xml, file, place)[0]


def _checked(
    xml: bytes, file: str, place: Any, view: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any]:
    """`check`, and what `acm.authoring.recheck` needs to check an edit of
    `xml` in parts later (None when it cannot). `view`: the outline of
    `xml`, when it was made already."""
    from acm.authoring.policyedit import outline, outline_of
    from acm.authoring.recheck import checked_document
    from acm.compiler import gc_paused
    from acm.lint.engine import lint_document
    from acm.source import parse_policy_document

    findings: list[Diagnostic]
    state = None
    try:
        doc = parse_policy_document(xml, file)
    except PolicyError as exc:
        findings = list(exc.diagnostics)
        try:  # well-formed, but not valid: the outline still helps
            view = outline(xml, file)
        except PolicyError:
            view = None
        findings.sort(key=_order)
    else:
        # one parse for the outline and the checks; lint as `xm acm lint`
        # runs it (thousands of small records: the collector waits, as there)
        # (and goes on waiting while the answer's 20,000 small dicts are
        # made: the first collection after the pause would scan them all)
        with gc_paused():
            view = outline_of(doc.root) if view is None else view
            findings = lint_document(doc, (), place)
            findings.sort(key=_order)
            state = checked_document(doc, findings, place)
            seen = [_seen(d) for d in findings]
        return _answer(seen, findings, view), state
    return _answer([_seen(d) for d in findings], findings, view), state


def _answer(
    seen: list[dict[str, Any]], findings: list[Diagnostic], view: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "findings": seen,
        "errors": sum(1 for d in findings if d.severity is Severity.ERROR),
        "outline": view,
        "complete": True,
    }


def _order(d: Diagnostic) -> tuple[int, int, int, str]:
    return (d.location.line, d.location.column, -d.severity.rank, d.code)


_RANKS = {s.value: s.rank for s in Severity}


def _seen_order(f: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """`_order` of a finding as the editor shows it."""
    return (f["line"], f["column"], -_RANKS[f["severity"]], f["code"])


def outline_only(xml: bytes, file: str) -> dict[str, Any] | None:
    """The editor's outline without the checks (None when not well-formed)."""
    from acm.authoring.policyedit import outline

    try:
        return outline(xml, file)
    except PolicyError:
        return None


# The last answers, by `check_digest`, each with what a quick check of an
# edit of it needs (acm.authoring.recheck), or None, and the text it is of.
_CHECKED: dict[str, tuple[dict[str, Any], Any]] = {}
_TEXTS: dict[str, bytes] = {}
_CHECKED_KEPT = 6


def text_since(since: str, start: int, end: int, insert: str) -> bytes | None:
    """The text of the answer `since` with its characters `start` to `end`
    (UTF-16 offsets, as the page counts) replaced by `insert`: a page sends
    what it changed rather than the whole text. None when that answer is
    no longer known, or its offsets cannot be counted so."""
    text = _TEXTS.get(since)
    if text is None:
        return None
    base = text.decode("utf-8", "replace")
    if not base.isascii() and _ASTRAL.search(base):
        return None
    if not 0 <= start <= end <= len(base):
        raise UsageError("the change does not fit the text it was made to")
    return (base[:start] + insert + base[end:]).encode("utf-8")


def check_digest(xml: bytes, place: Any) -> str:
    import hashlib

    expected = "" if place is None else str(place.expected)
    return hashlib.sha256(xml + b"\0" + expected.encode()).hexdigest()


def _finding_key(f: Mapping[str, Any]) -> str:
    return f"{f['code']}\x1f{f['line']}\x1f{f['column']}\x1f{f['message']}"


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What the page must change to go from the answer `old` to `new`: the
    findings removed (by key) and added, and the outline's parts that
    differ (label rows by index when no label came or went). Whatever would
    not be smaller than itself is sent whole."""
    from collections import Counter

    answer: dict[str, Any] = {"errors": new["errors"], "complete": new["complete"]}
    before = Counter(_finding_key(f) for f in old["findings"])
    after = Counter(_finding_key(f) for f in new["findings"])
    gone = before - after
    added_keys = after - before
    if sum(added_keys.values()) + sum(gone.values()) < len(new["findings"]):
        added = []
        for f in new["findings"]:
            key = _finding_key(f)
            if added_keys[key] > 0:
                added_keys[key] -= 1
                added.append(f)
        answer["findings_delta"] = {"removed": list(gone.elements()), "added": added}
    else:
        answer["findings"] = new["findings"]
    was, now = old["outline"], new["outline"]
    if was is None or now is None:
        answer["outline"] = now
        return answer
    parts = {k: v for k, v in now.items() if k != "labels" and was.get(k) != v}
    rows: dict[str, Any] = {}
    if len(was["labels"]) == len(now["labels"]):
        rows = {
            str(i): b
            for i, (a, b) in enumerate(zip(was["labels"], now["labels"], strict=True))
            if a != b
        }
    if len(rows) * 2 > len(now["labels"]) or len(was["labels"]) != len(now["labels"]):
        parts["labels"] = now["labels"]
        rows = {}
    answer["outline_delta"] = {"parts": parts, "labels": rows}
    return answer


def pending(xml: bytes, file: str, place: Any) -> dict[str, Any]:
    """The outline of a policy being opened, before its checks, with a
    digest: the page's check of the same text names it rather than sending
    the text again, and its answer leaves out the outline (the same). Held
    as an answer that `check_since` never gives as it is."""
    view = outline_only(xml, file)
    digest = check_digest(xml, place)
    if digest not in _CHECKED:
        held = {"findings": [], "errors": 0, "outline": view, "complete": False}
        _keep(digest, {**held, "pending": True}, None, xml)
    return {"outline": view, "digest": digest}


def check_since(
    xml: bytes, file: str, place: Any, since: str | None, full: bool = False
) -> dict[str, Any]:
    """`check`, answered as what changed since the answer `since` (its
    digest) when that answer is still known, else whole; with the digest
    of this answer for the next request. An edit of the answer `since` is
    checked where it touched the policy (`acm.authoring.recheck`; the
    answer says `complete: false`) unless `full` asks for every check."""
    digest = check_digest(xml, place)
    known = _CHECKED.pop(digest, None)
    opened = None  # the outline of this text as `pending` sent it
    if known is not None and known[0].get("pending"):
        opened, known = known[0], None
    before = _CHECKED.get(since) if since else None
    if opened is not None and since == digest:
        before = (opened, None)
    old = before[0] if before is not None else None
    if known is not None and (known[0]["complete"] or not full):
        result, state = known
    else:
        if before is not None and before[1] is not None and not full and known is None:
            quick = _quick(before, xml, file, place, digest)
            if quick is not None:
                return {**quick, "since": since}
        result, state = _checked(xml, file, place, opened["outline"] if opened else None)
    _keep(digest, result, state, xml)
    if old is None or old is result:
        return {**result, "digest": digest}
    return {**_changes(old, result), "digest": digest, "since": since}


def _keep(digest: str, result: dict[str, Any], state: Any, xml: bytes) -> None:
    _CHECKED[digest] = (result, state)
    _TEXTS[digest] = xml
    while len(_CHECKED) > _CHECKED_KEPT:
        _TEXTS.pop(next(iter(_CHECKED)), None)
        _CHECKED.pop(next(iter(_CHECKED)))


def _shifted_row(row: dict[str, Any], by: int) -> dict[str, Any]:
    """An outline row of a label whose lines moved by `by`."""
    return {
        **row,
        "line": row["line"] + by,
        "last_line": row["last_line"] + by,
        "ste": [{**g, "line": g["line"] + by} for g in row["ste"]],
        "chwall": [{**g, "line": g["line"] + by} for g in row["chwall"]],
    }


def _quick(
    before: tuple[dict[str, Any], Any], xml: bytes, file: str, place: Any, digest: str
) -> dict[str, Any] | None:
    """The answer to an edit of the answer `before`, checked where the edit
    touched the policy, as what changed; None when it cannot be."""
    from bisect import insort

    from acm.authoring.policyedit import label_rows
    from acm.authoring.recheck import recheck
    from acm.compiler import gc_paused

    old, state = before
    if state.file != file or state.place != place or old["outline"] is None:
        return None
    with gc_paused():  # thousands of small records, none in a cycle (as lint pauses it)
        quick = recheck(state, xml)
    if quick is None:
        return None
    first, last = quick.lines
    rows = label_rows(quick.cut, first, last)
    labels = old["outline"]["labels"]
    after = labels[quick.first + quick.replaced :]
    if quick.shift:
        after = [_shifted_row(r, quick.shift) for r in after]
    # the answer held, less what went, moved with its lines, with what came
    removed = [_seen(d) for d in quick.removed]
    gone = Counter(_finding_key(f) for f in removed)
    seen: list[dict[str, Any]] = []
    for f in old["findings"]:
        key = _finding_key(f) if gone else ""
        if gone and gone[key] > 0:
            gone[key] -= 1
        elif quick.shift and f["line"] > quick.after:
            seen.append({**f, "line": f["line"] + quick.shift})
        else:
            seen.append(f)
    added = [_seen(d) for d in quick.added]
    for f in added:
        insort(seen, f, key=_seen_order)
    result = {
        "findings": seen,
        "errors": sum(1 for f in seen if f["severity"] == "error"),
        "outline": {**old["outline"], "labels": labels[: quick.first] + rows + after},
        "complete": False,
    }
    _keep(digest, result, quick.state, xml)
    shift = {"after": quick.after, "by": quick.shift}
    return {
        "errors": result["errors"],
        "complete": False,
        "findings_delta": {
            "removed": [_finding_key(f) for f in removed],
            "shift": shift,
            "added": added,
        },
        "outline_delta": {
            "parts": {},
            "labels": {},
            "splice": {"start": quick.first, "delete": quick.replaced, "insert": rows},
            "shift": shift,
        },
        "digest": digest,
    }


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # characters outside the BMP


def text_change(old: str, new: str) -> dict[str, Any] | None:
    """The one replacement that turns `old` into `new` (common start and end
    kept), in UTF-16 offsets as the page counts them; None when a character
    outside the BMP would make the offsets differ."""
    if not (old.isascii() and new.isascii()) and (_ASTRAL.search(old) or _ASTRAL.search(new)):
        return None
    from acm.authoring.recheck import common_prefix, common_suffix

    start = common_prefix(old, new)
    tail = common_suffix(old, new, min(len(old), len(new)) - start)
    end_old, end_new = len(old) - tail, len(new) - tail
    return {"from": start, "to": end_old, "insert": new[start:end_new]}


def edit(xml: bytes, op: Mapping[str, Any], file: str) -> bytes:
    from acm.authoring.policyedit import apply_edit

    return apply_edit(xml, op, file)


# ------------------------------------------------------------------ analyses


def analysis_policy(xml: bytes, file: str) -> Any:
    """The analysis view of a policy source compiled in memory (PolicyError
    with every finding when it does not compile)."""
    from acm.analysis.loader import from_compiled
    from acm.compiler import compile_document
    from acm.source import T_CHWALL, T_CONFLICT, T_CONFLICT_SETS, parse_policy_document

    doc = parse_policy_document(xml, file)
    names = tuple(
        c.get("name") for c in doc.root.iterfind(f"{T_CHWALL}/{T_CONFLICT_SETS}/{T_CONFLICT}")
    )
    compiled, _ = compile_document(doc)
    return from_compiled(compiled, names, file)


def graphs(xml: bytes, file: str) -> dict[str, Any]:
    """The Chinese Wall conflict graph and the STE sharing graph, as
    networkx node-link data of the labels (what `xm acm graph --format json`
    prints at the labels level)."""
    from acm.analysis.graphs import policy_graph

    policy = analysis_policy(xml, file)
    return {kind: policy_graph(policy, kind, "labels").as_dict() for kind in ("conflicts", "flows")}


def flask_export(xml: bytes, file: str) -> dict[str, Any]:
    """`xm acm flask POLICY -o DIR` of the edited text, nothing written: the
    files it would write (the module, its modules.conf line, the mapping,
    the Chinese Wall guard, the report as text and JSON), by name."""
    from acm.flask import export_flask
    from acm.source import parse_policy_document
    from xm_core.render import analysis as render

    source = parse_policy_document(xml, file).source()
    export = export_flask(analysis_policy(xml, file), source)
    texts = render.flask_files(export)
    return {"module_name": export.module_name, "guard_name": export.guard_name, "files": texts}


def coexist(xml: bytes, file: str, labels: list[str]) -> dict[str, Any]:
    from acm.analysis.coexist import CoexistCheck
    from acm.analysis.coexist import coexist as run

    res = run(analysis_policy(xml, file), labels, 10)
    can = res.can if isinstance(res, CoexistCheck) else True
    return {"text": res.format(), "json": res.as_dict(), "status": 0 if can else 1}


def flows(xml: bytes, file: str, source: str, target: str) -> dict[str, Any]:
    from acm.analysis.flows import find_flows

    res = find_flows(analysis_policy(xml, file), source, target, 3, 20)
    return {"text": res.format(), "json": res.as_dict(), "status": 0}


def explain(
    paths: HostPaths, config: str, xml: bytes | None = None, file: str = "<studio policy>"
) -> dict[str, Any]:
    """`xm acm explain CONFIG` on this host now (the active policy decides);
    with `xml`, as if that policy (the editor's text, compiled in memory)
    were loaded now: the host's state copied, the policy loaded there."""
    from xm_core.insight.explain import explain_config
    from xm_core.insight.impact import explain_as_loaded
    from xm_core.render import acmhost

    path = config_file(paths, config)
    new = analysis_policy(xml, file) if xml is not None else None
    holder: dict[str, Any] = {}

    def run() -> int:
        if new is None:
            result = explain_config(paths, path)
        else:
            result, refusal = explain_as_loaded(paths, new, path)
            if result is None:
                raise XmError(f"Loading the edited policy now would be refused: {refusal}")
        holder["json"] = result.as_dict()
        acmhost.explanation(result, False)
        return 0 if result.permitted else 1

    return {**as_cli(run).as_dict(), **holder}


def _active(paths: HostPaths) -> Any:
    """The analysis view of the host's active policy, or None (DEFAULT)."""
    from acm.analysis.loader import from_compiled
    from acm.model import CompiledPolicy
    from xm_core.host.model import Host, conflict_set_names

    with Host(paths) as host:
        loaded = host.policy()
        if loaded is None:
            return None
        names = conflict_set_names(paths, loaded.name, loaded.binary)
        compiled = CompiledPolicy(loaded.binary, loaded.map)
        return from_compiled(compiled, tuple(names) or None, "active policy")


def diff(paths: HostPaths, xml: bytes, file: str, name: str) -> dict[str, Any]:
    """The edited policy against the saved XML and against the active policy,
    and what loading it now would do to the running domains."""
    from acm.analysis.diff import diff_policies

    new = analysis_policy(xml, file)
    answer: dict[str, Any] = {"saved": None, "active": None, "impact": None}
    files = policy_files(paths, name)
    if Path(files.xml).is_file():
        saved = analysis_policy(read_policy_file(files.xml), files.xml)
        answer["saved"] = diff_policies(saved, new).format()
    answer.update(_against_active(paths, new, source=xml))
    return answer


def _against_active(
    paths: HostPaths, new: Any, keep_ssidrefs: bool = False, source: bytes | None = None
) -> dict[str, Any]:
    """`xm acm diff ACTIVE NEW --host`: the diff and the host impact (None, None
    when no policy is active); the impact of `loadpolicy --keep-ssidrefs` when asked.
    `source`: NEW's XML (a versioned NEW's renames are read there)."""
    from acm.analysis.diff import diff_policies
    from xm_core.insight.impact import host_impact

    active = _active(paths)
    if active is None:
        return {"active": None, "impact": None}
    res = diff_policies(active, new)
    impact = host_impact(paths, res, keep_ssidrefs, source)
    return {
        "active": res.format(),
        "impact": {"text": impact.format(), "loadable": impact.loadable},
    }


# ------------------------------------------------------------------ saving


def draft_file(paths: HostPaths, name: str) -> Path:
    """Where the studio keeps NAME's draft: beside its XML, under a name no
    tool reads as a policy (`<last>-security_policy.draft.xml`)."""
    xml = policy_files(paths, name).xml
    return Path(xml[: -len(".xml")] + ".draft.xml")


def draft_info(paths: HostPaths, name: str) -> dict[str, Any] | None:
    """NAME's draft, when one was saved: its file and when."""
    import time

    try:
        path = draft_file(paths, name)
        stat = path.stat()
    except (OSError, PolicyError, XmError):
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stat.st_mtime))
    return {"file": str(path), "saved": when}


def save(paths: HostPaths, name: str, xml: bytes) -> dict[str, Any]:
    """Compile the XML first, as `xm makepolicy NAME` would (the same output);
    only when it compiles are the `.xml`, `.map` and `.bin` written, together
    (`save_policy`), and a draft of NAME is then removed. When it does not
    compile nothing is written: the page offers a draft instead."""
    from xm_core import render
    from xm_core.host.policy import save_policy

    files = policy_files(paths, name)

    def compile_it() -> None:
        render.warnings(save_policy(paths, name, xml).warnings)

    out = as_cli(compile_it)
    saved = out.status == 0
    if saved:
        with contextlib.suppress(OSError):
            draft_file(paths, name).unlink()
    return {
        "saved": saved,
        "written": [files.xml, files.map, files.bin] if saved else [],
        "makepolicy": out.as_dict(),
    }


def save_draft(paths: HostPaths, name: str, xml: bytes) -> dict[str, Any]:
    """Keep unfinished work as NAME's draft: never the policy's own `.xml`,
    so the compiled policy and its source stay as they were."""
    from xm_core.files.atomic import atomic_write

    path = draft_file(paths, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, xml)
    return {"draft": str(path)}


def read_draft(paths: HostPaths, name: str) -> bytes:
    path = draft_file(paths, name)
    if not path.is_file():
        raise UsageError(f"Policy '{name}' has no draft")
    return read_policy_file(str(path))


def compiled_digest(files: PolicyFiles, keep_ssidrefs: bool = False) -> str:
    """What a load preview was made of: the `.bin` and `.map` as they are now,
    and the way of loading them."""
    import hashlib

    digest = hashlib.sha256(b"keep-ssidrefs\0" if keep_ssidrefs else b"\0")
    for file in (files.bin, files.map):
        digest.update(Path(file).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def load(paths: HostPaths, name: str, digest: str, keep_ssidrefs: bool = False) -> dict[str, Any]:
    """`xm loadpolicy [--keep-ssidrefs] NAME`, with the same output, of exactly
    the compiled policy that was previewed, as it was previewed: refused
    when the `.bin` or `.map` changed since (`digest` is the preview's)."""
    from xm_core.host.model import load_policy
    from xm_core.render import domains

    files = policy_files(paths, name).settled()
    try:
        now = compiled_digest(files, keep_ssidrefs)
    except OSError:
        now = ""
    if now != digest:
        raise XmError(
            f"Policy '{name}' was compiled again since the preview; nothing was loaded "
            "(preview it again)"
        )

    def run() -> None:
        domains.loaded(load_policy(paths, name, keep_ssidrefs), False)

    return {"loadpolicy": as_cli(run).as_dict()}


def impact_of_saved(paths: HostPaths, name: str, keep_ssidrefs: bool = False) -> dict[str, Any]:
    """Before a load: what loading the compiled `.bin` (and `.map`) of NAME,
    which is what `xm loadpolicy NAME` loads, would do to this host; with
    the digest that the load must then match and whether it is permitted."""
    from acm.analysis.loader import from_compiled, read_compiled
    from xm_core.host.model import conflict_set_names

    files = policy_files(paths, name).settled()
    if not Path(files.bin).is_file():
        raise XmError(
            f"Binary policy file '{files.bin}' not found. Run 'xm makepolicy {name}' first."
        )
    digest = compiled_digest(files, keep_ssidrefs)
    compiled = read_compiled(files.bin, files.map)
    # the conflict sets by name, as loadpolicy names them
    names = tuple(conflict_set_names(paths, name, compiled.binary)) or None
    saved_xml = read_policy_file(files.xml) if Path(files.xml).is_file() else None
    new = from_compiled(compiled, names, files.bin)
    answer = _against_active(paths, new, keep_ssidrefs, saved_xml)
    impact = answer["impact"]
    return {**answer, "digest": digest, "loadable": impact is None or impact["loadable"]}


def update_preview(paths: HostPaths, name: str) -> dict[str, Any]:
    """`xm setpolicy --dry-run ACM NAME` (Xen 3.4's update of the running
    policy: versions, renames written as from=), with the same output; the
    policy as saved in the policy tree, nothing written."""
    import tempfile

    from xm_core.insight.impact import update_impact
    from xm_core.render.xen34 import lifecycle

    policy_files(paths, name)

    def run() -> int:
        # an empty working folder: NAME is read from the policy tree
        with tempfile.TemporaryDirectory(prefix="xm-studio-") as empty:
            impact = update_impact(paths, name, Path(empty))
        lifecycle.dry_run(impact.plan, impact.refusal, impact.details, False)
        return 0 if impact.would_set else 1

    return {"setpolicy": as_cli(run).as_dict()}


def new_policy(name: str, date: str) -> dict[str, Any]:
    """An empty policy named NAME: what `xm acm generate` makes of a workload
    without organizations (one type, SystemManagement, its VM and resource
    labels), as xensec_gen's "new policy" started."""
    return generate({"version": 1, "organizations": [], "rules": []}, name, date)


# ------------------------------------------------------------------ organizations


def workload_of(doc: Any) -> Any:
    """A workload from its JSON description (shape-checked, WLD codes)."""
    import json

    from acm.authoring.workload import WorkloadFormat, parse_workload

    return parse_workload(json.dumps(doc).encode(), WorkloadFormat.JSON, "<studio workload>")


WORKLOAD_EDITS = {
    "add_organization": ("name",),
    "add_department": ("organization", "name"),
    "rename_organization": ("old", "new"),
    "rename_department": ("organization", "old", "new"),
    "delete_organization": ("name",),
    "delete_department": ("organization", "name"),
    "add_rule": ("name", "selection"),
    "add_to_rule": ("index", "selection"),
    "remove_from_rule": ("index", "types"),
    "rename_rule": ("index", "name"),
    "delete_rule": ("index",),
}


def _workload_edit_arg(op: Mapping[str, Any], arg: str) -> Any:
    """One argument of a workload edit, of the type the edit takes (a rule's
    `index` a number, a `selection` or `types` a list of names, else a name):
    anything else is a bad request, not a failure inside the edit."""
    value = op.get(arg)
    if arg == "index":
        ok = isinstance(value, int) and not isinstance(value, bool)
        wanted = "a number"
    elif arg in ("selection", "types"):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        wanted = "a list of names"
    else:
        ok, wanted = isinstance(value, str), "a name"
    if not ok:
        raise UsageError(f"'{arg}' of workload edit {op.get('op')!r} must be {wanted}")
    return value


def workload_edit(doc: Any, op: Mapping[str, Any]) -> dict[str, Any]:
    """One of ezPolicy's edits (acm.authoring.workload) on a workload description."""
    import acm.authoring.workload as wl

    kind = op.get("op")
    if kind not in WORKLOAD_EDITS:
        raise UsageError(f"unknown workload edit {kind!r}")
    args = [_workload_edit_arg(op, arg) for arg in WORKLOAD_EDITS[kind]]
    workload = getattr(wl, str(kind))(workload_of(doc), *args)
    return workload_view(workload)


def workload_view(workload: Any) -> dict[str, Any]:
    from acm.authoring.workload import as_document, check_workload

    return {
        "workload": as_document(workload),
        "findings": [_finding(d) for d in check_workload(workload, "<studio workload>")],
    }


def generate(doc: Any, name: str, date: str) -> dict[str, Any]:
    from acm.authoring.generate import generate_policy

    res = generate_policy(workload_of(doc), name, date, "<studio workload>")
    return {"xml": res.xml.decode("utf-8"), "summary": res.summary(), **res.as_dict()}


def workload_text(doc: Any, filename: str = "workload.json") -> str:
    """The description as saved under `filename`: JSON or TOML by its suffix
    (a `.wld` is refused, WLD030: ezPolicy's format is read, not written)."""
    from acm.authoring.workload import WorkloadFormat, format_of, to_text

    fmt = format_of(filename) if "." in filename else WorkloadFormat.JSON
    return to_text(workload_of(doc), fmt)


def workload_upload(data: bytes, filename: str) -> dict[str, Any]:
    from acm.authoring.workload import format_of, parse_workload

    return workload_view(parse_workload(data, format_of(filename, data), filename))


def error_findings(exc: PolicyError | XmError) -> list[dict[str, Any]]:
    """A failure as findings for the page (an XmError is one, code XM)."""
    if isinstance(exc, PolicyError):
        return [_finding(d) for d in exc.diagnostics]
    return [_finding(Diagnostic("XM", exc.message, Location(), Severity.ERROR))]
