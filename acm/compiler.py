"""The policy compiler's entry points (`compile_file`, `read_and_compile`,
`compile_document`, `compile_document_result`) and its fast path.

Large policies take a fast path (`compile_tree`) that numbers exactly as
Xen 3.0.4's secpol_xml2bin did (see shared spec policy-format.md section
3), straight from the parsed tree, and gives up as soon as anything would
need a finding; the full compiler over the source model
(`acm.sourcecompiler`, with every check and its codes) then runs and
reports it. Tests check both agree. A versioned policy (Xen 3.4's format:
a PolicyHeader with Version) is numbered and checked by
`acm.versioned.numbering` instead, with those checks and its own
(ACM040-ACM048; ACM049-ACM050 for updates).

Both are imported only when needed (a policy the fast path compiles loads
neither), and neither imports this module: imports point one way.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from operator import attrgetter
from typing import TYPE_CHECKING

from acm.binfmt import binary_size
from acm.errors import Diagnostics, Location
from acm.inputfile import MAX_BINARY_SIZE, binary_size_problem
from acm.model import (
    MAX_16BIT,
    NULL_LABEL,
    CompiledPolicy,
    LabelEntry,
    TypeSet,
    assemble_policy,
)
from acm.names import bad_name_character, map_name_problem, policy_name_problem
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
    PolicyDocument,
    misc_parents,
)

if TYPE_CHECKING:
    from lxml import etree

    from acm.sourcecompiler import CompileResult


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


def _bootstrap_first(entries: list[LabelEntry], boot: str | None) -> bool:
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
    return None if parts is None else assemble_policy(*parts)


# what `_read_tree` gives `assemble_policy`: the policy's name, the Chinese Wall
# types, conflict sets and SSIDs, the STE types and SSIDs
_TreeParts = tuple[
    str, list[str] | None, list[TypeSet], list[LabelEntry], list[str] | None, list[LabelEntry]
]


def _read_tree(
    root: etree._Element,
    data: bytes | None = None,
    oversize: list[int] | None = None,
    *,
    size_limit: bool = True,
    seen: TreeLabels | None = None,
) -> _TreeParts | None:
    """What `assemble_policy` makes `compile_source`'s policy of, for this
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

    null: LabelEntry = (NULL_LABEL, LabelKind.ANY, ())
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
        from acm.sourcecompiler import compile_policy

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
    from acm.sourcecompiler import CompileResult

    if doc.versioned:
        return None
    oversize: list[int] = []
    parts = _read_tree(doc.root, doc.data, oversize, seen=seen)
    if parts is not None:
        return CompileResult(
            assemble_policy(*parts) if policy_needed else None, Diagnostics(), [], []
        )
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
        from acm.sourcecompiler import compile_policy

        return (*compile_policy(doc.source(), size_limit=size_limit), doc)
