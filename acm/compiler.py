"""The policy compiler: source model -> `CompiledPolicy`, exactly as Xen 3.0.4's
secpol_xml2bin numbered things (see shared spec policy-format.md section 3).

Every finding of the semantic stage is collected; nothing is compiled when
any of them is an error.

Codes (shared with `acm lint`):
  ACM010 type declared twice          ACM011 label names an undeclared type
  ACM012 conflict set names a non-Chinese-Wall type
  ACM013 type twice in one conflict set
  ACM014 bootstrap label missing      ACM016 a name with a character the .map cannot carry
  ACM017 more than 65535 types or SSIDs in a part, or a `.bin` over 4 GiB
  ACM019 an empty name                ACM023 (warning) type twice in one label

A versioned policy (Xen 3.4's format: a PolicyHeader with Version) is
numbered and checked by `acm.versioned.numbering` instead, with these
checks and its own (ACM040-ACM048; ACM049-ACM050 for updates).

Large policies take a fast path (`compile_tree`) that numbers the same way
straight from the parsed tree and gives up as soon as anything would need a
finding; the full compiler then runs and reports it. Tests check both agree.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

from acm.errors import Diagnostics, Location, PolicyError, Severity
from acm.inputfile import MAX_COMPILED_BYTES, binary_size_problem
from acm.model import (
    MAX_16BIT,
    NULL_LABEL,
    BinaryPolicy,
    ChwallPolicy,
    CompiledPolicy,
    MapPart,
    PolicyCode,
    PolicyMap,
    SsidLabel,
    StePolicy,
    TypeSet,
)
from acm.names import bad_name_character, check_policy_name
from acm.records import NamedTuple
from acm.source import (
    T_CHWALL,
    T_CHWALL_TYPES,
    T_CONFLICT,
    T_HEADER,
    T_NAME,
    T_OBJECTS,
    T_POLICY_NAME,
    T_STE,
    T_STE_TYPES,
    T_SUBJECTS,
    T_TEMPLATE,
    T_TYPE,
    ColumnIndex,
    LabelKind,
    LabelSource,
    Named,
    PartSource,
    PolicyDocument,
    PolicySource,
    TypeGroup,
)

if TYPE_CHECKING:
    from lxml import etree

# The `.bin` header's `len` is a uint32, and its readers take at most
# MAX_COMPILED_BYTES, the lower bound (acm.inputfile.binary_size_problem).
MAX_BINARY_SIZE = min(0xFFFFFFFF, MAX_COMPILED_BYTES)


class SsidEntry(NamedTuple):
    """One entry of a part's SSID list while it is being built."""

    name: str
    kind: LabelKind
    types: TypeSet
    label: LabelSource | None  # None for the null entry


class CompileResult(NamedTuple):
    policy: CompiledPolicy | None
    diagnostics: Diagnostics
    # SSID lists in final order, with the source label of each entry.
    chwall_entries: list[SsidEntry]
    ste_entries: list[SsidEntry]


# (label name, kind, types) of one SSID, in final order.
_Entry = tuple[str, LabelKind, TypeSet]


class TreeLabels:
    """What the compiler's one pass (`compile_tree`, or
    `compile_document_result` for lint) read of each label, for a caller
    that reads the labels too (lint): the elements are then walked once,
    not twice. Complete only when the pass found nothing, or only the
    `.bin`'s size."""

    __slots__ = ("names", "lines", "groups", "vm_count")

    def __init__(self) -> None:
        self.names: list[str] = []  # each label's Name, in document order
        self.lines: list[int] = []  # the line of each Name
        # each type group: (its label's number, an STE group?, its line, its type numbers)
        self.groups: list[tuple[int, bool, int, TypeSet]] = []
        self.vm_count = 0  # labels before this one are VM labels


def map_name_problem(text: str) -> str | None:
    """Why a name or type cannot be written to the `.map` (empty, or a
    character that breaks its lines), or None; the versioned numbering asks
    the same."""
    if text == "":
        return "is empty"
    problem = bad_name_character(text)
    if problem is not None:
        return f"{text!r} contains {problem}, which breaks the .map"
    return None


def policy_name_problem(text: str) -> str | None:
    """The PolicyName becomes a path (`labels`, `addlabel` and the loaded
    policy's files are found by it): it must be a dotted policy name."""
    try:
        check_policy_name(text)
    except PolicyError as exc:
        return f"{text!r} is not a dotted policy name: {exc.message.split(': ', 1)[-1]}"
    return None


def binary_size(name: str, chwall: tuple[int, int, int] | None, ste: tuple[int, int] | None) -> int:
    """Bytes of the `.bin` of a policy with these counts: chwall is
    (types, ssids, conflict sets), ste (types, ssids)."""
    size = 32 + ((4 + len(name.encode("utf-8")) + 1 + 7) & ~7)
    if chwall is not None:
        types, ssids, sets = chwall
        size += 36 + 2 * types * (ssids + sets)
    if ste is not None:
        types, ssids = ste
        size += 20 + 2 * types * ssids
    return size


def _occurrences(items: list[Named]) -> list[int]:
    """For each item, how many of the same name stand before it on its line
    (so that its column is found among them); one pass over the list."""
    seen: dict[tuple[int, str], int] = {}
    counts = []
    for n in items:
        count = seen.get((n.line, n.text), 0)
        counts.append(count)
        seen[(n.line, n.text)] = count + 1
    return counts


class SourceCompiler:
    """The full compiler over the source model: every check of names, types
    and conflict sets, each finding placed. `compile_source` runs it; the
    versioned numbering (`acm.versioned.numbering`) reuses its checks."""

    def __init__(self, src: PolicySource, size_limit: bool = True) -> None:
        self.src = src
        self.size_limit = size_limit
        self.found = Diagnostics()
        # id(list) -> (the list, its _occurrences): built once per list, so a
        # name repeated N times costs O(N), not O(N²); the list is kept so
        # that its id stays its own
        self._occurrences: dict[int, tuple[list[Named], list[int]]] = {}

    def nth(self, items: list[Named], index: int) -> int:
        known = self._occurrences.get(id(items))
        if known is None:
            known = self._occurrences[id(items)] = (items, _occurrences(items))
        return known[1][index]

    def check_name(self, named: Named, what: str) -> None:
        problem = map_name_problem(named.text)
        if problem:
            code = "ACM019" if named.text == "" else "ACM016"
            self.found.add(code, f"{what} {problem}", self.src.at(named))
        elif what == "PolicyName":
            problem = policy_name_problem(named.text)
            if problem:
                self.found.add("ACM016", f"{what} {problem}", self.src.at(named))

    def declare_types(self, part: PartSource | None, what: str) -> dict[str, int]:
        numbers: dict[str, int] = {}
        if part is None:
            return numbers
        for index, named in enumerate(part.types):
            self.check_name(named, f"{what} type name")
            if named.text in numbers:
                self.found.add(
                    "ACM010",
                    f"{what} type '{named.text}' is declared more than once",
                    self.src.at(named, self.nth(part.types, index)),
                )
                continue
            numbers[named.text] = len(numbers)
        if len(numbers) > MAX_16BIT:
            self.found.add(
                "ACM017",
                f"{what} part declares {len(numbers)} types; at most {MAX_16BIT} fit in 16 bits",
                self.src.locate(part.line, what_tag(what)),
            )
        return numbers

    def conflict_sets(self, part: PartSource, cw: dict[str, int]) -> list[TypeSet]:
        sets: list[TypeSet] = []
        for number, cs in enumerate(part.conflict_sets):
            members: set[int] = set()
            label = f"conflict set {number}" + (f" '{cs.name}'" if cs.name else "")
            for index, named in enumerate(cs.types):
                t = cw.get(named.text)
                if t is None:
                    self.found.add(
                        "ACM012",
                        f"{label} names '{named.text}', which is not a Chinese Wall type",
                        self.src.at(named, self.nth(cs.types, index)),
                    )
                    continue
                if t in members:
                    self.found.add(
                        "ACM013",
                        f"{label} names type '{named.text}' more than once",
                        self.src.at(named, self.nth(cs.types, index)),
                    )
                    continue
                members.add(t)
            sets.append(tuple(sorted(members)))
        return sets

    def group_types(
        self,
        label: LabelSource,
        group: TypeGroup,
        numbers: dict[str, int],
        what: str,
        part: PartSource | None,
    ) -> TypeSet:
        members: set[int] = set()
        for index, named in enumerate(group.types):
            t = numbers.get(named.text)
            if t is None:
                where = (
                    f"which is not declared in the {what} part"
                    if part is not None
                    else f"but the policy has no {what} part"
                )
                self.found.add(
                    "ACM011",
                    f"label '{label.name.text}' uses {what} type '{named.text}', {where}",
                    self.src.at(named, self.nth(group.types, index)),
                )
                continue
            if t in members:
                self.found.add(
                    "ACM023",
                    f"label '{label.name.text}' lists {what} type '{named.text}' twice",
                    self.src.at(named, self.nth(group.types, index)),
                    Severity.WARNING,
                )
            members.add(t)
        return tuple(sorted(members))

    def bootstrap_first(self, entries: list[SsidEntry], what: str) -> list[SsidEntry]:
        """Move the bootstrap label's first entry right after the null entry.

        Like Xen, the search starts at the null entry itself: a bootstrap named
        `__NULL_LABEL__` moves the null entry (lint warns about that name).
        """
        boot = self.src.bootstrap
        if boot is None:
            self.found.add(
                "ACM014",
                f"the policy has a {what} part but no SubjectLabels, so no bootstrap label "
                "for Domain-0",
                self.src.locate(self.src.policy_name.line, "PolicyName"),
            )
            return entries
        index = next((i for i, e in enumerate(entries) if e.name == boot.text), None)
        if index is None or len(entries) < 2:
            self.found.add(
                "ACM014",
                f"bootstrap label '{boot.text}' has no {what} entry "
                f"(no VirtualMachineLabel of that name with {what} types)",
                self.src.locate(boot.line, "SubjectLabels"),
            )
            return entries
        moved = entries.pop(index)
        entries.insert(1, moved)
        return entries

    def check_count(self, entries: list[SsidEntry], what: str) -> None:
        if len(entries) > MAX_16BIT:
            self.found.add(
                "ACM017",
                f"{what} part has {len(entries)} SSIDs; at most {MAX_16BIT} fit in 16 bits",
                self.src.locate(self.src.policy_name.line, "PolicyName"),
            )

    def check_size(self, cw: tuple[int, int, int] | None, ste: tuple[int, int] | None) -> None:
        if not self.size_limit:
            return
        problem = binary_size_problem(binary_size(self.src.policy_name.text, cw, ste))
        if problem is not None:
            self.found.add(
                "ACM017", problem, self.src.locate(self.src.policy_name.line, "PolicyName")
            )

    def run(self) -> CompileResult:
        src = self.src
        self.check_name(src.policy_name, "PolicyName")
        ste_numbers = self.declare_types(src.ste, "STE")
        cw_numbers = self.declare_types(src.chwall, "CHWALL")
        sets = self.conflict_sets(src.chwall, cw_numbers) if src.chwall else []

        ste_entries = [SsidEntry(NULL_LABEL, LabelKind.ANY, (), None)]
        cw_entries = [SsidEntry(NULL_LABEL, LabelKind.ANY, (), None)]
        for label in src.vm_labels + src.res_labels:
            self.check_name(label.name, "label name")
            for group in label.ste_groups:
                types = self.group_types(label, group, ste_numbers, "STE", src.ste)
                ste_entries.append(SsidEntry(label.name.text, label.kind, types, label))
            for group in label.chwall_groups:
                types = self.group_types(label, group, cw_numbers, "CHWALL", src.chwall)
                cw_entries.append(SsidEntry(label.name.text, label.kind, types, label))

        if src.chwall is not None:
            cw_entries = self.bootstrap_first(cw_entries, "CHWALL")
            self.check_count(cw_entries, "CHWALL")
        if src.ste is not None:
            ste_entries = self.bootstrap_first(ste_entries, "STE")
            self.check_count(ste_entries, "STE")
        self.check_size(
            (len(cw_numbers), len(cw_entries), len(sets)) if src.chwall is not None else None,
            (len(ste_numbers), len(ste_entries)) if src.ste is not None else None,
        )

        if self.found.has_errors:
            return CompileResult(None, self.found, cw_entries, ste_entries)
        policy = _assemble(
            src.policy_name.text,
            list(cw_numbers) if src.chwall is not None else None,
            sets,
            [(e.name, e.kind, e.types) for e in cw_entries],
            list(ste_numbers) if src.ste is not None else None,
            [(e.name, e.kind, e.types) for e in ste_entries],
        )
        return CompileResult(policy, self.found, cw_entries, ste_entries)


def what_tag(what: str) -> str:
    return "ChineseWall" if what == "CHWALL" else "SimpleTypeEnforcement"


def _assemble(
    name: str,
    cw_types: list[str] | None,
    sets: Sequence[TypeSet],
    cw_entries: list[_Entry],
    ste_types: list[str] | None,
    ste_entries: list[_Entry],
) -> CompiledPolicy:
    """The compiled policy from SSID lists in final order (both paths)."""
    # Chinese Wall, when present, is primary; `priority` changes nothing.
    if cw_types is not None:
        primary = PolicyCode.CHWALL
        secondary = PolicyCode.STE if ste_types is not None else PolicyCode.NULL
    elif ste_types is not None:
        primary, secondary = PolicyCode.STE, PolicyCode.NULL
    else:
        primary = secondary = PolicyCode.NULL

    chwall = ste = None
    chwall_map = ste_map = None
    if cw_types is not None:
        ssids = tuple([e[2] for e in cw_entries])
        chwall = ChwallPolicy(len(cw_types), ssids, tuple(sets))
        chwall_map = _map_part(PolicyCode.CHWALL, cw_types, cw_entries, ssids)
    if ste_types is not None:
        ssids = tuple([e[2] for e in ste_entries])
        ste = StePolicy(len(ste_types), ssids)
        ste_map = _map_part(PolicyCode.STE, ste_types, ste_entries, ssids)
    binary = BinaryPolicy(name, primary, secondary, chwall, ste)
    pmap = PolicyMap(name, "", "", primary, secondary, chwall_map, ste_map)
    return CompiledPolicy(binary, pmap)


def _map_part(
    code: PolicyCode, types: list[str], entries: list[_Entry], ssids: tuple[TypeSet, ...]
) -> MapPart:
    # tuple.__new__ straight from the zipped fields: SsidLabel(...) would run
    # its generated Python __new__ once per label (30,000: 10 ms against 6).
    fields = zip([e[0] for e in entries], [e[1] for e in entries], itertools.count())
    labels = tuple(map(tuple.__new__, itertools.repeat(SsidLabel), fields))
    return MapPart(code, tuple(types), labels, ssids)


def compile_source(src: PolicySource, *, size_limit: bool = True) -> CompileResult:
    """Compile; the result's `policy` is None when any error was found.
    Without `size_limit`, a `.bin` too large to be written or read is no
    error (an analysis in memory writes none; see `compile_document`)."""
    return SourceCompiler(src, size_limit).run()


def _in_document_order(found: Diagnostics) -> Diagnostics:
    return Diagnostics(sorted(found, key=lambda d: (d.location.line, d.location.column)))


def compile_policy(
    src: PolicySource, *, size_limit: bool = True
) -> tuple[CompiledPolicy, Diagnostics]:
    """Compile or raise PolicyError with every finding (in document order).
    Returns the warnings too."""
    result = compile_source(src, size_limit=size_limit)
    found = _in_document_order(result.diagnostics)
    if result.policy is None:
        raise PolicyError(found)
    return result.policy, found


# ---------------------------------------------------------------- fast path

_LEAVES = frozenset((T_TYPE, T_NAME, T_POLICY_NAME))
_TYPE_LISTS = frozenset((T_STE_TYPES, T_CHWALL_TYPES, T_CONFLICT))


def _numbers(types: list[str] | None) -> dict[str, int] | None:
    """Type numbers of a part's declaration, or None when any would need a finding."""
    if types is None:
        return {}
    if None in types:
        return None  # an empty name (ACM019)
    numbers = {t: i for i, t in enumerate(types)}
    if len(numbers) != len(types) or len(numbers) > MAX_16BIT:
        return None
    if any(map_name_problem(t) for t in types):
        return None
    return numbers


def _bootstrap_first(entries: list[_Entry], boot: str | None) -> bool:
    for index, entry in enumerate(entries):
        if entry[0] == boot:
            entries.insert(1, entries.pop(index))
            return True
    return False


_text_of = attrgetter("text")


def _type_texts(type_list: etree._Element, plain: bool) -> list[str]:
    """The texts of a type list's (or conflict set's) `Type` children; when
    `plain`, every child is one. An empty `Type` gives None, which no
    caller lets through."""
    if plain:
        return [t.text for t in type_list]  # type: ignore[misc]
    return [t.text for t in type_list.iterchildren(T_TYPE)]  # type: ignore[misc]


_RARE_BYTE_TRIES = 64


def _holds(data: bytes, marker: bytes, start: int) -> bool:
    """Whether `marker` (a `<` and a rarer byte) occurs in `data` from
    `start`. Policies hold thousands of `<` but hardly any `?` or `!`: a
    search for the rare byte (memchr) is 10 times faster than one for the
    pair. A document full of the rare byte falls back to the pair search."""
    rare = marker[1:2]
    pos = data.find(rare, start + 1)
    for _ in range(_RARE_BYTE_TRIES):
        if pos < 0:
            return False
        if data.startswith(marker, pos - 1):
            return True
        pos = data.find(rare, pos + 1)
    return pos >= 0 and data.find(marker, pos - 1) >= 0


def misc_parents(root: etree._Element, data: bytes | None) -> set[str]:
    """The tags of the elements that hold a comment or processing instruction.
    Given the document's bytes in an ASCII-based encoding, none is looked
    for when the bytes hold none (a search of the bytes is 5 times faster
    than one of the tree)."""
    from lxml import etree

    encoding = (root.getroottree().docinfo.encoding or "").upper()
    if (
        data is not None
        and data[:1] == b"<"
        and (encoding in ("UTF-8", "US-ASCII", "ASCII") or encoding.startswith("ISO-8859-"))
        and not _holds(data, b"<!--", 0)
        and not _holds(data, b"<?", 1)  # the XML declaration aside
    ):
        return set()
    return {c.getparent().tag for c in root.iter(etree.Comment, etree.PI)}  # type: ignore[union-attr]


def compile_tree(
    root: etree._Element,
    data: bytes | None = None,
    oversize: list[int] | None = None,
    *,
    size_limit: bool = True,
    seen: TreeLabels | None = None,
) -> CompiledPolicy | None:
    """What `compile_source` gives for this schema-valid tree when it finds
    nothing at all (no error, no warning); None as soon as it would find
    something (see `_read_tree`)."""
    parts = _read_tree(root, data, oversize, size_limit=size_limit, seen=seen)
    return None if parts is None else _assemble(*parts)


# what `_read_tree` gives `_assemble`: the policy's name, the Chinese Wall
# types, conflict sets and SSIDs, the STE types and SSIDs
_TreeParts = tuple[
    str, list[str] | None, list[TypeSet], list[_Entry], list[str] | None, list[_Entry]
]


def _read_tree(
    root: etree._Element,
    data: bytes | None = None,
    oversize: list[int] | None = None,
    *,
    size_limit: bool = True,
    seen: TreeLabels | None = None,
) -> _TreeParts | None:
    """What `_assemble` makes `compile_source`'s policy of, for this
    schema-valid tree, when it finds nothing at all (no error, no warning);
    None as soon as it would find something. One pass, for large policies:
    each type list is read and numbered on the spot, its texts never held
    beyond it. `oversize`, when given, receives the `.bin`'s size when that
    is the only finding (ACM017; see `compile_document_result`). `seen`,
    when given, receives what was read of each label.

    The schema guarantees the shape this relies on: every label starts with
    its `Name`, VM labels (in SubjectLabels) come before resource labels, and
    a type list holds at least one `Type`. `data`, the document's bytes, is
    optional (see `misc_parents`).
    """
    misc = misc_parents(root, data)
    if misc & _LEAVES:
        return None  # a comment inside a name: element text is not the whole name
    # Comments or PIs between the types of a list are among its children:
    # only then are the Type children picked out (slower).
    plain_lists = not misc & _TYPE_LISTS
    policy_name = root.findtext(f"{T_HEADER}/{T_POLICY_NAME}") or ""
    if map_name_problem(policy_name) or policy_name_problem(policy_name):
        return None

    declared: list[list[str] | None] = []
    for path in (f"{T_STE}/{T_STE_TYPES}", f"{T_CHWALL}/{T_CHWALL_TYPES}"):
        type_list = root.find(path)
        declared.append(None if type_list is None else _type_texts(type_list, plain_lists))
    ste_types, cw_types = declared
    ste_numbers, cw_numbers = _numbers(ste_types), _numbers(cw_types)
    if ste_numbers is None or cw_numbers is None:
        return None
    sets: list[TypeSet] = []
    for conflict in root.iter(T_CONFLICT):
        in_set = _type_texts(conflict, plain_lists)
        members = {cw_numbers.get(t, -1) for t in in_set}
        if -1 in members or len(members) != len(in_set):
            return None  # an unknown type (ACM012) or one named twice (ACM013)
        sets.append(tuple(sorted(members)))

    null: _Entry = (NULL_LABEL, LabelKind.ANY, ())
    ste_entries, cw_entries = [null], [null]
    ste_append, cw_append = ste_entries.append, cw_entries.append
    # A part the policy lacks has no types: any group for it is unknown.
    ste_number, cw_number = ste_numbers.__getitem__, cw_numbers.__getitem__
    template = root.find(T_TEMPLATE)
    assert template is not None  # the schema requires it
    subjects = template.find(T_SUBJECTS)
    names: list[str] = seen.names if seen is not None else []
    lines = seen.lines if seen is not None else None
    groups = seen.groups if seen is not None else None
    name = ""
    try:
        for labels, kind in ((subjects, LabelKind.VM), (template.find(T_OBJECTS), LabelKind.RES)):
            if labels is None:
                continue
            # A Name has no children, a type list at least one Type: the
            # length tells them apart without building each element's tag.
            for el in labels.iter(T_NAME, T_STE_TYPES, T_CHWALL_TYPES):
                n = len(el)
                if not n:
                    name = el.text  # type: ignore[assignment]  # None if empty: checked below
                    names.append(name)
                    if lines is not None:
                        lines.append(el.sourceline or 0)  # type: ignore[arg-type]  # int, or None
                    continue
                is_ste = el.tag == T_STE_TYPES
                number = ste_number if is_ste else cw_number
                if n == 1:  # most Chinese Wall groups; the one child is the Type
                    row: TypeSet = (number(el[0].text),)  # type: ignore[arg-type]
                else:
                    # _type_texts, written out: this runs for every label (a
                    # plain list's texts are numbered straight from its children)
                    if plain_lists:
                        members = {*map(number, map(_text_of, el))}
                    else:
                        texts: list[str] = [t.text for t in el.iterchildren(T_TYPE)]  # type: ignore[misc]
                        n = len(texts)
                        members = {*map(number, texts)}
                    if len(members) != n:
                        return None  # a type twice in one label (ACM023)
                    row = tuple(sorted(members))
                (ste_append if is_ste else cw_append)((name, kind, row))
                if groups is not None:
                    groups.append((len(names) - 1, is_ste, el.sourceline or 0, row))  # type: ignore[arg-type]
            if seen is not None and kind == LabelKind.VM:
                seen.vm_count = len(names)
    except KeyError:
        return None  # an unknown type (ACM011), or an empty one (None)
    if None in names or "" in names:
        return None  # an empty name (ACM019)
    if bad_name_character("".join(names)) is not None:
        return None  # a name the .map cannot carry (ACM016)

    bootstrap = subjects.get("bootstrap", "") if subjects is not None else None
    cw_counts = ste_counts = None
    if cw_types is not None:
        if not _bootstrap_first(cw_entries, bootstrap) or len(cw_entries) > MAX_16BIT:
            return None
        cw_counts = (len(cw_types), len(cw_entries), len(sets))
    if ste_types is not None:
        if not _bootstrap_first(ste_entries, bootstrap) or len(ste_entries) > MAX_16BIT:
            return None
        ste_counts = (len(ste_types), len(ste_entries))
    size = binary_size(policy_name, cw_counts, ste_counts)
    if size_limit and size > MAX_BINARY_SIZE:
        if oversize is not None:
            oversize.append(size)
        return None
    return policy_name, cw_types, sets, cw_entries, ste_types, ste_entries


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Building a large policy makes hundreds of thousands of lists and
    tuples, none of them in a cycle; the cyclic collector would scan them
    again and again (a third of the time), so it waits until we are done.
    A caller that goes on to write the policy keeps it waiting until the
    policy is written and dropped (else the first collection after the
    pause scans them all once more)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_document(
    doc: PolicyDocument, *, size_limit: bool = True
) -> tuple[CompiledPolicy, Diagnostics]:
    """Compile a parsed policy: the fast path when it finds nothing, else the
    full compiler with every finding (PolicyError on any error). Without
    `size_limit` (the analyses, which write no `.bin`), a policy whose
    `.bin` would be too large to write or load (ACM017) is compiled too."""
    if doc.versioned:
        return _compile_versioned(doc)
    with gc_paused():
        compiled = compile_tree(doc.root, doc.data, size_limit=size_limit)
        if compiled is not None:
            return compiled, Diagnostics()
        return compile_policy(doc.source(), size_limit=size_limit)


def compile_document_result(
    doc: PolicyDocument, seen: TreeLabels | None = None, *, policy_needed: bool = True
) -> CompileResult | None:
    """What `compile_source(doc.source())` finds, without the source model,
    when the fast path can tell: nothing, or only that the `.bin` would be
    too large (ACM017, where `SourceCompiler.check_size` puts it). None when the
    full compiler must look (and for versioned policies). The SSID entries,
    which only the full compiler keeps, are left empty. `seen`: see
    `compile_tree` (complete when the result is not None). Without
    `policy_needed` (lint, which reads only the findings), the result holds
    no compiled policy."""
    if doc.versioned:
        return None
    oversize: list[int] = []
    parts = _read_tree(doc.root, doc.data, oversize, seen=seen)
    if parts is not None:
        return CompileResult(_assemble(*parts) if policy_needed else None, Diagnostics(), [], [])
    if not oversize:
        return None
    problem = binary_size_problem(oversize[0])
    assert problem is not None  # over MAX_BINARY_SIZE, its readers' limit
    name_el = doc.root.find(f"{T_HEADER}/{T_POLICY_NAME}")
    sourceline: object = name_el.sourceline if name_el is not None else 0
    line = sourceline if isinstance(sourceline, int) else 0
    found = Diagnostics()
    found.add(
        "ACM017",
        problem,
        Location(doc.file, line, ColumnIndex(doc.data).column(line, "PolicyName")),
    )
    return CompileResult(None, found, [], [])


def _compile_versioned(doc: PolicyDocument) -> tuple[CompiledPolicy, Diagnostics]:
    """A policy of Xen 3.4's versioned format: its own numbering and checks."""
    from acm.versioned.numbering import compile_versioned

    return compile_versioned(doc)


def compile_file(
    path: str, display: str | None = None, retain: list[object] | None = None
) -> tuple[CompiledPolicy, Diagnostics]:
    """Read, parse, validate and compile a policy file; PolicyError carries
    every finding of the first stage that failed. Returns the warnings.

    `retain`, when given, receives the parsed tree instead of its being freed
    on return: a caller that ends its process right after (the command line)
    leaves the freeing of a large tree, and the allocator's clean-up after
    it (together about 20 ms for 20,000 labels), to the process exit."""
    compiled, found, _doc = read_and_compile(path, display, retain)
    return compiled, found


def read_and_compile(
    path: str,
    display: str | None = None,
    retain: list[object] | None = None,
    *,
    size_limit: bool = True,
) -> tuple[CompiledPolicy, Diagnostics, PolicyDocument]:
    """`compile_file`, also giving the document read (the analyses read the
    conflict sets' names and the renames from it). `size_limit`: see
    `compile_document`."""
    from acm.source import ValidatingDocument, is_versioned_tree, read_policy_bytes

    file = display if display is not None else path
    with gc_paused():
        pending = ValidatingDocument(read_policy_bytes(path, file), file)
        if is_versioned_tree(pending.root):
            versioned = pending.document()
            if retain is not None:  # makepolicy reads the conflict sets' names from it
                retain.append(versioned.root)
            return (*_compile_versioned(versioned), versioned)
        # The fast path reads the tree while the schema validates it; what it
        # makes of a tree the schema refuses (or any exception there) is
        # dropped for the schema's findings.
        try:
            compiled = compile_tree(pending.root, pending.data, size_limit=size_limit)
        finally:
            doc = pending.document()
        if retain is not None:
            retain.append(doc.root)  # the tree, not the document's bytes
        if compiled is not None:
            return compiled, Diagnostics(), doc
        return (*compile_policy(doc.source(), size_limit=size_limit), doc)
