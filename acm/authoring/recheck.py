"""Checking an edited policy again where the edit touched it (the studio's
quick check of an edit).

A full check (the compiler and lint: `acm.lint.engine.lint_source`) of a
policy with 20,000 labels takes seconds; an edit of one label changes few of
its findings. `CheckedPolicy` keeps what a full check learnt of the document:
the lines of each label, its name and types, the findings. `recheck` checks
an edited text by running that same `lint_source` on a small policy cut out
of it: the whole text with the lines of the labels that do not matter to the
edit left empty, so that every line keeps its number and every finding its
line and column. What stays: the declarations, the edited labels, the
bootstrap label, every label using one of the types the edited labels use or
used, every label of one of their names, and the first VM label of each set
of Chinese Wall types (the order ACM030's search picks its witnesses in).
Only the findings the rules can have changed are taken from it:

* every finding on the edited labels' lines;
* ACM015 and ACM031 on the lines of the other labels of one of their names;
* ACM026 on the declarations of the types they use or used (a user of every
  other type declared on those lines stays too).

Not checked again until the next full check (the studio runs it when asked
and when saving): whether an untouched label bridges a Chinese Wall (ACM030)
now that a label it shares types with changed, and the compiled size
(ACM017).

`recheck` answers None for an edit it cannot cut out: a change outside the
labels or to the bootstrap label, a label sharing a line with another
element, a versioned policy, a cut that does not parse or is not valid. The
caller then checks the whole text.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from acm.errors import Diagnostic, Location, PolicyError
from acm.lint.context import PolicyPlace
from acm.source import (
    T_CHWALL_TYPES,
    T_NAME,
    T_OBJECTS,
    T_RES,
    T_STE_TYPES,
    T_SUBJECTS,
    T_TEMPLATE,
    T_VM,
    LabelKind,
    LabelSource,
    PolicyDocument,
    PolicySource,
    element_text,
    etree_localname,
    line_offsets,
    parse_document,
    parse_policy_document,
    type_texts,
)

if TYPE_CHECKING:
    from lxml import etree

# Findings that depend on the other labels of a name.
NAME_CODES = frozenset({"ACM015", "ACM031"})
UNUSED_TYPE = "ACM026"
_TAGS = {
    LabelKind.VM: (b"<VirtualMachineLabel", b"</VirtualMachineLabel>"),
    LabelKind.RES: (b"<ResourceLabel", b"</ResourceLabel>"),
}
_AFTER_TAG = frozenset(b" \t\r\n>")


class LabelLines(NamedTuple):
    """One label: the lines it alone fills, its name and the types it names."""

    first: int
    last: int
    kind: LabelKind
    name: str
    types: frozenset[str]  # of both parts
    chwall: frozenset[str]  # its Chinese Wall types (a VM label's class in ACM030)


@dataclass(frozen=True)
class CheckedPolicy:
    """A policy text and what its last check found."""

    text: bytes
    file: str
    place: PolicyPlace | None
    line_starts: list[int]
    labels: list[LabelLines]  # in document order
    bootstrap: str | None
    declared_at: dict[str, list[int]]  # a type's name -> the lines declaring it
    types_on_line: dict[int, list[str]]  # a line -> the types declared there
    findings: list[Diagnostic]
    complete: bool  # every rule was run on the whole policy


class Recheck(NamedTuple):
    """What an edit changed: the findings `removed` (numbered as before the
    edit), then every line after `after` moved by `shift`, then `added`;
    `labels[first:first+replaced]` replaced by the labels of lines
    `lines[0]..lines[1]` of `cut` (the policy that was checked)."""

    state: CheckedPolicy
    removed: list[Diagnostic]
    added: list[Diagnostic]
    after: int
    shift: int
    first: int
    replaced: int
    lines: tuple[int, int]
    cut: etree._Element


class _LabelFacts(NamedTuple):
    """What `_label_lines` reads of a label: its kind, the line it starts
    on, its name, its STE types and its Chinese Wall types (of every group)."""

    kind: LabelKind
    line: int
    name: str
    ste: list[str]
    chwall: list[str]


def _facts(labels: Iterable[LabelSource]) -> Iterator[_LabelFacts]:
    for lab in labels:
        ste = [t.text for g in lab.ste_groups for t in g.types]
        chwall = [t.text for g in lab.chwall_groups for t in g.types]
        yield _LabelFacts(lab.kind, lab.line, lab.name.text, ste, chwall)


def _tree_facts(root: etree._Element) -> Iterator[_LabelFacts]:
    """`_facts` of the labels of a schema-valid document, read from its tree
    as the source model reads them (`acm.source`), without building it."""
    template = root.find(T_TEMPLATE)
    assert template is not None  # the schema requires it
    for part, tag, kind in ((T_SUBJECTS, T_VM, LabelKind.VM), (T_OBJECTS, T_RES, LabelKind.RES)):
        labels = template.find(part)
        for el in labels.iterchildren(tag) if labels is not None else ():
            name = el.find(T_NAME)
            assert name is not None
            ste: list[str] = []
            chwall: list[str] = []
            for group in el.iterchildren(T_STE_TYPES, T_CHWALL_TYPES):
                (ste if group.tag == T_STE_TYPES else chwall).extend(type_texts(group))
            line: object = el.sourceline  # as acm.source reads it: 0 when unknown
            at = line if isinstance(line, int) else 0
            yield _LabelFacts(kind, at, element_text(name), ste, chwall)


def _label_lines(
    text: bytes, starts: Sequence[int], labels: Iterable[_LabelFacts], after: int = 0
) -> list[LabelLines] | None:
    """The lines of each label, or None when one shares a line with another
    element (then no label can be left out by emptying its lines)."""
    found: list[LabelLines] = []
    size = len(text)
    for lab in labels:
        opening, closing = _TAGS[lab.kind]
        first = lab.line
        if first <= after or first > len(starts):
            return None
        begin = starts[first - 1]
        at = begin
        while at < size and text[at] in b" \t\r":
            at += 1
        follows = text[at + len(opening) : at + len(opening) + 1]
        if not text.startswith(opening, at) or not follows or follows[0] not in _AFTER_TAG:
            return None
        end = text.find(closing, at)
        if end < 0:
            return None
        end += len(closing)
        last = bisect_right(starts, end - 1)
        line_end = starts[last] if last < len(starts) else size
        if text[end:line_end].strip():
            return None
        after = last
        chwall = frozenset(lab.chwall)
        found.append(
            LabelLines(first, last, lab.kind, lab.name, frozenset(lab.ste) | chwall, chwall)
        )
    return found


def checked_policy(
    src: PolicySource,
    findings: list[Diagnostic],
    place: PolicyPlace | None,
    complete: bool = True,
) -> CheckedPolicy | None:
    """What `recheck` needs of a checked policy; None for one it cannot
    check in parts (a versioned policy, labels sharing lines)."""
    return _checked(src, _facts(src.labels), findings, place, complete)


def checked_document(
    doc: PolicyDocument,
    findings: list[Diagnostic],
    place: PolicyPlace | None,
    complete: bool = True,
) -> CheckedPolicy | None:
    """`checked_policy(doc.source(), ...)` without the labels' part of the
    source model (a third of a second at 20,000 labels): they are read from
    the tree."""
    src = doc.source_without_labels()
    return _checked(src, _tree_facts(doc.root), findings, place, complete)


def _checked(
    src: PolicySource,
    facts: Iterable[_LabelFacts],
    findings: list[Diagnostic],
    place: PolicyPlace | None,
    complete: bool,
) -> CheckedPolicy | None:
    if src.versioned is not None:
        return None
    starts = src.line_starts
    labels = _label_lines(src.text, starts, facts)
    if labels is None:
        return None
    declared_at: dict[str, list[int]] = {}
    types_on_line: dict[int, list[str]] = {}
    for part in (src.ste, src.chwall):
        for named in part.types if part is not None else ():
            declared_at.setdefault(named.text, []).append(named.line)
            types_on_line.setdefault(named.line, []).append(named.text)
    boot = src.bootstrap.text if src.bootstrap is not None else None
    return CheckedPolicy(
        src.text,
        src.file,
        place,
        starts,
        labels,
        boot,
        declared_at,
        types_on_line,
        findings,
        complete,
    )


Text = TypeVar("Text", str, bytes)


def common_prefix(a: Text, b: Text) -> int:
    """The length of the longest common start of two texts, found by halving
    (each step one C-level slice compare, not a loop in Python)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def common_suffix(a: Text, b: Text, limit: int) -> int:
    """The length of the longest common end of two texts, at most `limit`."""
    low, high = 0, limit
    while low < high:
        mid = (low + high + 1) // 2
        if a[len(a) - mid : len(a) - low] == b[len(b) - mid : len(b) - low]:
            low = mid
        else:
            high = mid - 1
    return low


def _names_and_types(segment: bytes, file: str) -> tuple[set[str], set[str]] | None:
    """Every Name and Type written in the edited lines (None when they are
    not well-formed on their own)."""
    try:
        root = parse_document(b"<r>" + segment + b"</r>", file).getroot()
    except PolicyError:
        return None
    names: set[str] = set()
    types: set[str] = set()
    for el in root.iter("{*}Name", "{*}Type"):
        text = "".join(str(piece) for piece in el.itertext())
        (names if etree_localname(el.tag) == "Name" else types).add(text)
    return names, types


_new = tuple.__new__  # a record built without the call of its __new__ (thousands move)


def _moved(d: Diagnostic, shift: int) -> Diagnostic:
    """`d` on the line `shift` lines further down."""
    loc = d.location
    return _new(
        Diagnostic,
        (d.code, d.message, _new(Location, (loc.file, loc.line + shift, loc.column)), d.severity),
    )


def _key(d: Diagnostic) -> tuple[int, int, int, str]:
    return (d.location.line, d.location.column, -d.severity.rank, d.code)


def recheck(state: CheckedPolicy, new: bytes) -> Recheck | None:
    """The findings of `new`, an edit of `state.text`, found by checking only
    what the edit touched (module docstring); None when it cannot be."""
    old, starts, labels = state.text, state.line_starts, state.labels
    if new == old or not labels:
        return None
    grown = len(new) - len(old)
    start = common_prefix(old, new)
    start = old.rfind(b"\n", 0, start) + 1  # the change from the start of its line
    tail = common_suffix(old, new, min(len(old), len(new)) - start)
    old_end = len(old) - tail
    if old_end < len(old) and old_end > 0 and old[old_end - 1] != 0x0A:
        newline = old.find(b"\n", old_end)
        if newline < 0:
            return None
        old_end = newline + 1  # to the end of its line
    new_end = old_end + grown
    a = bisect_right(starts, start)  # the first line changed
    b = bisect_right(starts, old_end - 1) if old_end > start else a - 1  # the last (old)
    shift = new.count(b"\n", start, new_end) - old.count(b"\n", start, old_end)
    lasts = [lab.last for lab in labels]
    i = bisect_left(lasts, a)  # the first label ending at or after line a
    j = i
    line = a
    while j < len(labels) and labels[j].first <= b:
        if labels[j].first > line:
            return None  # a line between labels changed
        line = labels[j].last + 1
        j += 1
    if line <= b:
        return None
    if i == j and not (
        (i > 0 and labels[i - 1].last == a - 1) or (i < len(labels) and labels[i].first == a)
    ):
        return None  # lines added away from the labels
    if i < j:
        a, b = min(a, labels[i].first), max(b, labels[j - 1].last)
    boot = state.bootstrap
    touched = labels[i:j]
    if any(lab.kind is LabelKind.VM and lab.name == boot for lab in touched):
        return None
    seg_start = starts[a - 1] if a <= len(starts) else len(old)
    seg_end = (starts[b] if b < len(starts) else len(old)) + grown
    found = _names_and_types(new[seg_start:seg_end], state.file)
    if found is None:
        return None
    names, types = found
    if boot is not None and boot in names:
        return None
    names.update(lab.name for lab in touched)
    for lab in touched:
        types.update(lab.types)
    decl_lines = {n for t in types for n in state.declared_at.get(t, ())}
    others = {t for n in decl_lines for t in state.types_on_line[n]} - types
    keep = _kept(labels, i, j, boot, names, types, others)
    cut = _cut(new, starts, labels, keep, i, j, grown)
    try:
        doc = parse_policy_document(cut, state.file)
    except PolicyError:
        return None
    src = doc.source()
    if src.versioned is not None or (src.bootstrap.text if src.bootstrap else None) != boot:
        return None
    cut_starts = src.line_starts
    last_new = b + shift
    edited = [lab for lab in src.labels if a <= lab.line <= last_new]
    new_labels = _label_lines(cut, cut_starts, _facts(edited), a - 1)
    if (
        new_labels is None
        or any(lab.last > last_new for lab in new_labels)
        or not _only_labels(cut, cut_starts, new_labels, a, last_new)
    ):
        return None
    from acm.lint.engine import lint_source

    found_now = lint_source(src, (), state.place)

    def moved(n: int) -> int:
        return n + shift if n > b else n

    same_old = {
        n
        for k in keep
        if labels[k].name in names
        for n in range(labels[k].first, labels[k].last + 1)
    }
    same_new = {moved(n) for n in same_old}
    removed = [
        d
        for d in state.findings
        if a <= d.location.line <= b
        or (d.code in NAME_CODES and d.location.line in same_old)
        or (d.code == UNUSED_TYPE and d.location.line in decl_lines)
    ]
    added = [
        d
        for d in found_now
        if a <= d.location.line <= last_new
        or (d.code in NAME_CODES and d.location.line in same_new)
        or (d.code == UNUSED_TYPE and d.location.line in decl_lines)
    ]
    gone = {id(d) for d in removed}
    findings = [d for d in state.findings if id(d) not in gone]
    if shift:
        findings = [d if d.location.line <= b else _moved(d, shift) for d in findings]
    for d in added:  # into their places: the rest keeps its order
        insort(findings, d, key=_key)
    after = labels[j:]
    if shift:
        after = [lab._replace(first=lab.first + shift, last=lab.last + shift) for lab in after]
    # the line starts of `new`: those of the lines around the edit are known
    if shift or grown:
        seg_starts = [seg_start + n for n in line_offsets(new[seg_start:seg_end])[1:]]
        new_starts = starts[:a] + seg_starts + [n + grown for n in starts[b + 1 :]]
        if seg_end == len(new) or new_starts[-1] > len(new):
            new_starts = line_offsets(new)
    else:
        new_starts = starts
    now = CheckedPolicy(
        new,
        state.file,
        state.place,
        new_starts,
        labels[:i] + new_labels + after,
        boot,
        state.declared_at,
        state.types_on_line,
        findings,
        False,
    )
    return Recheck(now, removed, added, b, shift, i, j - i, (a, last_new), doc.root)


def _kept(
    labels: list[LabelLines],
    i: int,
    j: int,
    boot: str | None,
    names: set[str],
    types: set[str],
    others: set[str],
) -> list[int]:
    """The untouched labels the cut keeps (module docstring), in order."""
    keep: list[int] = []
    classes: set[frozenset[str]] = set()
    kinds: set[LabelKind] = set()  # the schema wants a label in each list
    for k, lab in enumerate(labels):
        if i <= k < j:
            continue
        wanted = lab.kind not in kinds or lab.name in names or lab.name == boot
        kinds.add(lab.kind)
        wanted = wanted or not types.isdisjoint(lab.types)
        if lab.kind is LabelKind.VM and lab.chwall and lab.chwall not in classes:
            classes.add(lab.chwall)
            wanted = True
        if not wanted and others and not others.isdisjoint(lab.types):
            others -= lab.types  # one user of each is enough
            wanted = True
        if wanted:
            keep.append(k)
    return keep


def _cut(
    new: bytes,
    starts: list[int],
    labels: list[LabelLines],
    keep: list[int],
    i: int,
    j: int,
    grown: int,
) -> bytes:
    """`new` with the lines of every untouched label not in `keep` emptied."""
    kept = set(keep)
    pieces: list[bytes] = []
    at = 0
    run: tuple[int, int, int] | None = None  # (start, end, lines) of emptied labels

    def flush() -> None:
        nonlocal at, run
        if run is not None:
            pieces.append(new[at : run[0]])
            pieces.append(b"\n" * run[2])
            at = run[1]
            run = None

    for k, lab in enumerate(labels):
        if i <= k < j or k in kept:
            flush()
            continue
        offset = grown if k >= j else 0
        begin = starts[lab.first - 1] + offset
        end = (starts[lab.last] if lab.last < len(starts) else len(new) - grown) + offset
        lines = lab.last - lab.first + 1
        if run is not None and run[1] == begin:
            run = (run[0], end, run[2] + lines)
        else:
            flush()
            run = (begin, end, lines)
    flush()
    pieces.append(new[at:])
    return b"".join(pieces)


def _only_labels(text: bytes, starts: list[int], found: list[LabelLines], a: int, b: int) -> bool:
    """Whether lines a..b of `text` hold the labels `found` and white space only."""
    line = a
    for lab in found:
        if any(_line(text, starts, n).strip() for n in range(line, lab.first)):
            return False
        line = lab.last + 1
    return not any(_line(text, starts, n).strip() for n in range(line, b + 1))


def _line(text: bytes, starts: list[int], n: int) -> bytes:
    return text[starts[n - 1] : starts[n] if n < len(starts) else len(text)]
