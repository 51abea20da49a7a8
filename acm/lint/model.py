"""The form of a policy that the lint checks read: the source model's
header, parts and comments (small), and the labels as columns of plain
values, one entry per label (not one record per `Type` element, of which
a large policy has hundreds of thousands).

Label `i` is a VM label when `i < vm_count` (VM labels come first, as the
schema orders them). Locations are worked out only for findings, through
the source model's one column index.

Three readers make it: `from_compiled` takes the labels from what the
compiler's one pass read of them (`acm.compiler.TreeLabels`: lint's usual
way, the elements walked once); `from_document` reads them straight from a
parsed tree in a pass of its own; `from_source` takes them from a full
source model (which a policy the full compiler has to look at has anyway).
Tests check that all give the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import NamedTuple, overload

from acm.compiler import TreeLabels
from acm.errors import Location
from acm.source import (
    T_CHWALL_TYPES,
    T_NAME,
    T_OBJECTS,
    T_STE_TYPES,
    T_SUBJECTS,
    T_TEMPLATE,
    ColumnIndex,
    LabelKind,
    Named,
    PartSource,
    PolicyDocument,
    PolicySource,
    VersionSource,
    element_text,
    type_texts,
)

_NONE: tuple[str, ...] = ()
# from this many labels on, `labels_at` searches the whole document once
_MANY_PLACES = 200
_NO_LINES: tuple[int, ...] = ()


class TypesByNumber(Sequence[Sequence[str]]):
    """Each label's STE types as written, worked out from the compiler's
    numbers when read. The checks of a policy the compiler numbered read the
    numbers (`LabelTable.ste_numbers`); as texts, a large policy's would be
    hundreds of thousands of list entries made for nothing. `written` holds
    the lists of labels with more than one group (ACM027), which the
    numbers (each type once) do not give back."""

    __slots__ = ("numbers", "texts", "written")

    def __init__(
        self, numbers: list[tuple[int, ...]], texts: list[str], written: dict[int, list[str]]
    ) -> None:
        self.numbers = numbers
        self.texts = texts
        self.written = written

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, index: int) -> Sequence[str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sequence[str]]: ...

    def __getitem__(self, index: int | slice) -> Sequence[str] | list[Sequence[str]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self.numbers[index]  # IndexError past the end, as a list's
        found = self.written.get(index % len(self.numbers))
        if found is not None:
            return found
        return [*map(self.texts.__getitem__, row)] if row else _NONE

    def used(self) -> set[str]:
        """Every type some label names."""
        return set(map(self.texts.__getitem__, set().union(*self.numbers)))


class LabelTable(NamedTuple):
    """The labels of a policy, in document order, one entry per label in each list."""

    names: list[str]  # as written
    lines: list[int]  # the line of each label's Name
    # every STE type named by the label, all its groups, as written
    ste: Sequence[Sequence[str]]
    cw: list[Sequence[str]]  # every Chinese Wall type, likewise
    ste_groups: list[tuple[int, ...]]  # the line of each STE type group
    cw_groups: list[tuple[int, ...]]
    vm_count: int  # labels before this one are VM labels, the others resource labels
    # each label's STE type numbers (declaration order), each once; only
    # `from_compiled` has them (the compiler's one pass numbered them already)
    ste_numbers: list[tuple[int, ...]] | None = None

    def used_ste(self) -> set[str]:
        """Every STE type some label names."""
        if isinstance(self.ste, TypesByNumber):
            return self.ste.used()
        return set().union(*self.ste)


class LintPolicy:
    """A policy as the lint checks see it (see the module's docstring)."""

    def __init__(self, head: PolicySource, labels: LabelTable) -> None:
        self.head = head  # its label lists are not read (they may be empty)
        self.labels = labels

    @cached_property
    def columns(self) -> ColumnIndex:
        return self.head.columns

    @property
    def file(self) -> str:
        return self.head.file

    @property
    def text(self) -> bytes:
        return self.head.text

    @property
    def policy_name(self) -> Named:
        return self.head.policy_name

    @property
    def ste(self) -> PartSource | None:
        return self.head.ste

    @property
    def chwall(self) -> PartSource | None:
        return self.head.chwall

    @property
    def bootstrap(self) -> Named | None:
        return self.head.bootstrap

    @property
    def comments(self) -> list[tuple[str, int]]:
        return self.head.comments

    @property
    def versioned(self) -> VersionSource | None:
        return self.head.versioned

    def kind(self, i: int) -> LabelKind:
        return LabelKind.VM if i < self.labels.vm_count else LabelKind.RES

    def word(self, i: int) -> str:
        """`VM label` or `resource label`, as findings name label `i`."""
        return "VM label" if i < self.labels.vm_count else "resource label"

    def label_at(self, i: int) -> Location:
        """Where label `i`'s Name is written."""
        line = self.labels.lines[i]
        return Location(
            self.head.file, line, self.columns.column(line, "Name", self.labels.names[i])
        )

    def labels_at(self, labels: list[int]) -> list[Location]:
        """`label_at` of each of `labels`; many are placed with one search
        of the document (`ColumnIndex.only_columns`), not one per label."""
        if len(labels) < _MANY_PLACES:
            return [self.label_at(i) for i in labels]
        names = self.labels.names
        lines = [self.labels.lines[i] for i in labels]
        columns = self.columns
        file = self.head.file
        only = columns.only_columns(lines, "Name")
        return [
            Location(file, line, found or columns.column(line, "Name", names[i]))
            for i, line, found in zip(labels, lines, only, strict=True)
        ]

    def locate(self, line: int, tag: str = "", text: str | None = None, nth: int = 0) -> Location:
        return self.head.locate(line, tag, text, nth)

    def at(self, named: Named, nth: int = 0) -> Location:
        return self.head.at(named, nth)


def from_source(src: PolicySource) -> LintPolicy:
    """The lint form of a full source model."""
    labels = src.labels
    table = LabelTable(
        names=[label.name.text for label in labels],
        lines=[label.name.line for label in labels],
        ste=[[t.text for g in label.ste_groups for t in g.types] or _NONE for label in labels],
        cw=[[t.text for g in label.chwall_groups for t in g.types] or _NONE for label in labels],
        ste_groups=[tuple(g.line for g in label.ste_groups) for label in labels],
        cw_groups=[tuple(g.line for g in label.chwall_groups) for label in labels],
        vm_count=len(src.vm_labels),
    )
    return LintPolicy(src, table)


def from_document(doc: PolicyDocument) -> LintPolicy:
    """The lint form of a parsed, schema-valid policy of Xen 3.0.4's format,
    its labels read in one pass over the tree (names and types as
    `acm.source` reads them)."""
    from lxml import etree

    head = doc.source_without_labels()
    # Without comments or processing instructions, every child of a type
    # group is a Type with text only: read it without a look at its children.
    plain = not head.comments and next(doc.root.iter(etree.PI), None) is None
    names: list[str] = []
    lines: list[int] = []
    ste: list[Sequence[str]] = []
    cw: list[Sequence[str]] = []
    ste_groups: list[tuple[int, ...]] = []
    cw_groups: list[tuple[int, ...]] = []
    vm_count = 0
    template = doc.root.find(T_TEMPLATE)
    assert template is not None  # the schema requires it
    for tag in (T_SUBJECTS, T_OBJECTS):
        part = template.find(tag)
        if part is None:
            continue
        # Every label starts with its Name (the schema's order), and a Type
        # holds no elements: each Name found starts the next label.
        for el in part.iter(T_NAME, T_STE_TYPES, T_CHWALL_TYPES):
            kind = el.tag
            if kind == T_NAME:
                names.append(element_text(el))
                lines.append(el.sourceline or 0)  # type: ignore[arg-type]  # int, or None
                ste.append(_NONE)
                cw.append(_NONE)
                ste_groups.append(_NO_LINES)
                cw_groups.append(_NO_LINES)
                continue
            texts = [t.text or "" for t in el] if plain else type_texts(el)
            line: int = el.sourceline or 0  # type: ignore[assignment]  # int, or None
            if kind == T_STE_TYPES:
                ste[-1] = texts if not ste[-1] else [*ste[-1], *texts]
                ste_groups[-1] += (line,)
            else:
                cw[-1] = texts if not cw[-1] else [*cw[-1], *texts]
                cw_groups[-1] += (line,)
        if tag == T_SUBJECTS:
            vm_count = len(names)
    table = LabelTable(names, lines, ste, cw, ste_groups, cw_groups, vm_count)
    return LintPolicy(head, table)


def from_compiled(doc: PolicyDocument, seen: TreeLabels) -> LintPolicy:
    """The lint form of a parsed, schema-valid policy whose labels the
    compiler's one pass read into `seen` without a finding (or with only the
    `.bin`'s size): every type a label names is declared and named once in
    its group, so its number gives back its text. A group's types are
    listed in declaration order (the checks read them as sets)."""
    head = doc.source_without_labels()
    texts = {
        True: [t.text for t in head.ste.types] if head.ste is not None else [],
        False: [t.text for t in head.chwall.types] if head.chwall is not None else [],
    }
    count = len(seen.names)
    cw: list[Sequence[str]] = [_NONE] * count
    ste_groups: list[tuple[int, ...]] = [_NO_LINES] * count
    cw_groups: list[tuple[int, ...]] = [_NO_LINES] * count
    numbers: list[tuple[int, ...]] = [_NO_LINES] * count
    ste_text = texts[True].__getitem__
    cw_text = texts[False].__getitem__
    several: dict[int, list[str]] = {}  # the STE types of labels with two groups or more
    for i, is_ste, line, row in seen.groups:
        if is_ste:
            if numbers[i]:  # a second group (ACM027)
                several[i] = [*several.get(i, map(ste_text, numbers[i])), *map(ste_text, row)]
                numbers[i] = tuple(sorted({*numbers[i], *row}))
            else:
                numbers[i] = row
            ste_groups[i] += (line,)
        else:
            written = list(map(cw_text, row))
            cw[i] = written if not cw[i] else [*cw[i], *written]
            cw_groups[i] += (line,)
    ste = TypesByNumber(numbers, texts[True], several)
    table = LabelTable(
        seen.names, seen.lines, ste, cw, ste_groups, cw_groups, seen.vm_count, numbers
    )
    return LintPolicy(head, table)
