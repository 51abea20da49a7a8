"""The full compiler over the source model (`acm.source.PolicySource`):
every check of names, types and conflict sets, each finding placed, then
the numbering of Xen 3.0.4's secpol_xml2bin (see shared spec
policy-format.md section 3).

Every finding of the semantic stage is collected; nothing is compiled when
any of them is an error.

Codes (shared with `acm lint`):
  ACM010 type declared twice          ACM011 label names an undeclared type
  ACM012 conflict set names a non-Chinese-Wall type
  ACM013 type twice in one conflict set
  ACM014 bootstrap label missing      ACM016 a name with a character the .map cannot carry
  ACM017 more than 65535 types or SSIDs in a part, or a `.bin` over 4 GiB
  ACM019 an empty name                ACM023 (warning) type twice in one label

`acm.compiler` (the entry points and the fast path for large policies)
runs this when its fast path gives up; the versioned numbering
(`acm.versioned.numbering`) reuses `SourceCompiler`'s checks. Neither is
imported here: imports point one way.
"""

from __future__ import annotations

from acm.binfmt import binary_size
from acm.errors import Diagnostics, PolicyError, Severity
from acm.inputfile import binary_size_problem
from acm.model import MAX_16BIT, NULL_LABEL, CompiledPolicy, TypeSet, assemble_policy
from acm.names import map_name_problem, policy_name_problem
from acm.records import NamedTuple
from acm.source import LabelKind, LabelSource, Named, PartSource, PolicySource, TypeGroup


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
        policy = assemble_policy(
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
