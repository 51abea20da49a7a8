"""Running the lint: find the policy files, read each one's configuration,
check it, and collect every finding into one report.

A file that cannot be read or parsed is a finding (ACM001-003) like any
other; only a bad PATH or a broken configuration stops the run
(LintUsageError).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path

from acm.compiler import TreeLabels, compile_document_result, gc_paused
from acm.errors import DeferredDiagnostic, Diagnostic, Diagnostics, PolicyError, Severity
from acm.lint.checks import CHECKS
from acm.lint.checks.policy_name import policy_place
from acm.lint.config import (
    DEFAULT_CONFIG,
    LintConfig,
    LintUsageError,
    find_config,
    inline_disabled,
    load_config,
)
from acm.lint.context import LintContext, PolicyPlace
from acm.lint.model import LintPolicy, from_compiled, from_source
from acm.names import POLICY_SUFFIX
from acm.source import (
    PolicyDocument,
    PolicySource,
    ValidatingDocument,
    is_versioned_tree,
    read_policy_bytes,
)
from acm.sourcecompiler import CompileResult, compile_source


@dataclass(frozen=True)
class LintTarget:
    path: str  # to open
    display: str  # as findings name it
    search_root: str | None = None  # the folder PATH it was found under


_severity = attrgetter("severity")


@dataclass
class LintReport:
    files: list[str] = field(default_factory=list)
    findings: list[Diagnostic] = field(default_factory=list)

    def counts(self) -> Counter[Severity]:
        """How many findings there are of each severity (one pass: a large
        policy has tens of thousands)."""
        return Counter(map(_severity, self.findings))

    def failed(self, fail_level: Severity, counts: Counter[Severity] | None = None) -> bool:
        """Whether a finding is at or above `fail_level`; `counts`: `counts()`, when known."""
        found = self.counts() if counts is None else counts
        return any(s.rank >= fail_level.rank for s in found)

    def exit_status(self, fail_level: Severity) -> int:
        return 1 if self.failed(fail_level) else 0


def find_targets(paths: Sequence[str]) -> list[LintTarget]:
    """Files named on the command line, and every `*-security_policy.xml`
    below a folder named there (hidden folders skipped), each once."""
    targets: list[LintTarget] = []
    seen: set[str] = set()

    def add(target: LintTarget) -> None:
        key = os.path.realpath(target.path)
        if key not in seen:
            seen.add(key)
            targets.append(target)

    for given in paths:
        if os.path.isdir(given):
            found = []
            for folder, dirs, files in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [
                    os.path.join(folder, f) for f in sorted(files) if f.endswith(POLICY_SUFFIX)
                ]
            if not found:
                raise LintUsageError(f"no *{POLICY_SUFFIX} file in folder '{given}'")
            for path in found:
                add(LintTarget(path, os.path.normpath(path), given))
        elif os.path.lexists(given):
            add(LintTarget(given, given))
        else:
            raise LintUsageError(f"no such file or folder: '{given}'")
    return targets


def lint_source(
    src: PolicySource,
    trusted: Iterable[str] = (),
    place: PolicyPlace | None = None,
    compiled: CompileResult | None = None,
) -> list[Diagnostic]:
    """The compiler's findings and every lint check's, with default severities.
    `compiled`, when given, is what `compile_source(src)` would return."""
    if compiled is None and src.versioned is None:
        compiled = compile_source(src)
    return _written(_lint(from_source(src), compiled, src, trusted, place))


def _lint(
    policy: LintPolicy,
    compiled: CompileResult | None,
    src: PolicySource | None,
    trusted: Iterable[str] = (),
    place: PolicyPlace | None = None,
) -> list[Diagnostic]:
    """Every finding of a policy in lint's form. `compiled`: the compiler's
    result (None for a versioned policy, whose findings come from its own
    compiler and the full source model `src`)."""
    if policy.versioned is not None:
        assert src is not None
        findings = _versioned_compile_findings(src)
        compiled = CompileResult(None, Diagnostics(), [], [])
    else:
        assert compiled is not None
        findings = list(compiled.diagnostics)
    ctx = LintContext(policy, compiled, frozenset(trusted), place)
    for check in CHECKS:
        if policy.versioned is None:
            findings.extend(check(ctx))
        else:
            findings.extend(d for d in check(ctx) if d.code not in _NOT_FOR_VERSIONED)
    return findings


def lint_document(
    doc: PolicyDocument, trusted: Iterable[str] = (), place: PolicyPlace | None = None
) -> list[Diagnostic]:
    """What `lint_source(doc.source(), trusted, place)` finds (see `_read`)."""
    return _written(_lint(*_read(doc), trusted=trusted, place=place))


def _written(findings: list[Diagnostic]) -> list[Diagnostic]:
    """The findings with every message written: what callers that keep,
    compare or edit findings get. (`lint_target`'s report leaves ACM030's
    to the renderer, which shows a hundred of tens of thousands.)"""
    return [d.written() if isinstance(d, DeferredDiagnostic) else d for d in findings]


def _read(doc: PolicyDocument) -> tuple[LintPolicy, CompileResult | None, PolicySource | None]:
    """The policy in lint's form, the compiler's result and, when that
    needed it, the full source model. Without the source model when the
    compiler's one pass has nothing to say but perhaps the `.bin`'s size:
    the labels are then read in lint's form straight from the tree."""
    seen = TreeLabels()
    compiled = compile_document_result(doc, seen, policy_needed=False)
    if compiled is not None:
        return from_compiled(doc, seen), compiled, None
    src = doc.source()
    return from_source(src), None if src.versioned else compile_source(src), src


# Lint checks that speak of Xen 3.0.4's numbering: in a versioned policy every
# VM label has an entry in both parts (ACM021), and a name used twice is the
# compiler's error ACM047 there (ACM015).
_NOT_FOR_VERSIONED = frozenset({"ACM015", "ACM021"})


def _versioned_compile_findings(src: PolicySource) -> list[Diagnostic]:
    """The findings of the versioned compiler (Xen 3.4's numbering and rules)."""
    from acm.versioned.numbering import compile_versioned_source
    from acm.versioned.xmlhash import HASH_BYTES

    # The hash takes no part in any finding.
    _, found = compile_versioned_source(src, bytes(HASH_BYTES))
    return list(found)


def lint_target(target: LintTarget, config: LintConfig = DEFAULT_CONFIG) -> list[Diagnostic]:
    """All findings of one file, configured, in the order of the file. A
    message may be written only when it is read (DeferredDiagnostic)."""
    # hundreds of thousands of small records, none in a cycle: the cyclic
    # collector would scan them again and again
    with gc_paused():
        try:
            policy, compiled, src = _read_file(target)
        except PolicyError as exc:
            return sorted(exc.diagnostics, key=_order)
        place = policy_place(target.path, target.search_root, config.policy_root)
        disabled = config.disable | inline_disabled(policy.comments)
        findings = _lint(policy, compiled, src, config.trusted, place)
        if disabled or config.severity:
            findings = [
                d._replace(severity=config.severity[d.code]) if d.code in config.severity else d
                for d in findings
                if d.code not in disabled
            ]
        return _in_order(findings)


def _read_file(
    target: LintTarget,
) -> tuple[LintPolicy, CompileResult | None, PolicySource | None]:
    """`_read` of a file, read, parsed and validated (PolicyError as
    `read_policy_document` raises it). The one pass reads the tree while the
    schema validates it in a thread of its own (as `compile_file` does);
    what it made counts only once the schema has passed the tree."""
    pending = ValidatingDocument(read_policy_bytes(target.path, target.display), target.display)
    early = None
    if not is_versioned_tree(pending.root):
        try:
            early = _read(PolicyDocument(pending.file, pending.data, pending.root))
        except Exception:  # a tree the schema refuses may be of any shape
            early = None
    doc = pending.document()
    return early if early is not None else _read(doc)


def _in_order(findings: list[Diagnostic]) -> list[Diagnostic]:
    """By line, column, code and then message; a message is read only to
    order findings alike in the rest (see DeferredDiagnostic)."""
    findings.sort(key=_place)
    ordered: list[Diagnostic] = []
    for _, alike in groupby(findings, key=_place):
        run = list(alike)
        if len(run) > 1:
            run.sort(key=_message)
        ordered += run
    return ordered


# (line, column, code): C-level, for the sort of tens of thousands of findings
_place = attrgetter("location.line", "location.column", "code")


def _message(d: Diagnostic) -> str:
    return d.message


def _order(d: Diagnostic) -> tuple[int, int, str, str]:
    return (d.location.line, d.location.column, d.code, d.message)


class _Configs:
    """The configuration of each file: `--config` for all, else the nearest
    `acm-lint.toml` above the file (read once per file found)."""

    def __init__(self, config_file: str | None) -> None:
        self.fixed = load_config(Path(config_file)) if config_file is not None else None
        self.by_folder: dict[str, Path | None] = {}
        self.loaded: dict[Path, LintConfig] = {}

    def for_file(self, path: str) -> LintConfig:
        if self.fixed is not None:
            return self.fixed
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in self.by_folder:
            self.by_folder[folder] = find_config(Path(folder))
        found = self.by_folder[folder]
        if found is None:
            return DEFAULT_CONFIG
        if found not in self.loaded:
            self.loaded[found] = load_config(found)
        return self.loaded[found]


def lint_paths(paths: Sequence[str], config_file: str | None = None) -> LintReport:
    """Lint every policy under `paths`. LintUsageError for a bad PATH or a
    broken configuration, before any file is checked."""
    if not paths:
        raise LintUsageError("no PATH given")
    configs = _Configs(config_file)
    targets = find_targets(paths)
    settings = [configs.for_file(t.path) for t in targets]
    report = LintReport()
    for target, config in zip(targets, settings, strict=True):
        report.files.append(target.display)
        report.findings.extend(lint_target(target, config))
    return report
