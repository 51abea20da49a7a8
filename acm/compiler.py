"""The policy compiler: source model -> `CompiledPolicy`, exactly as Xen 3.0.4's
secpol_xml2bin numbered things (see shared spec policy-format.md section 3).

Every finding of the semantic stage is collected; nothing is compiled when
any of them is an error.

Codes (shared with `acm lint`):
  ACM010 type declared twice          ACM011 label names an undeclared type
  ACM012 conflict set names a non-Chinese-Wall type
  ACM013 type twice in one conflict set
  ACM014 bootstrap label missing      ACM016 a name with a line break
  ACM017 more than 65535 types or SSIDs in a part
  ACM019 an empty name                ACM023 (warning) type twice in one label
"""

from __future__ import annotations

from dataclasses import dataclass

from acm.errors import Diagnostics, PolicyError, Severity
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
from acm.source import LabelKind, LabelSource, Named, PartSource, PolicySource, TypeGroup


@dataclass
class SsidEntry:
    """One entry of a part's SSID list while it is being built."""

    name: str
    kind: LabelKind
    types: TypeSet
    label: LabelSource | None  # None for the null entry


@dataclass
class CompileResult:
    policy: CompiledPolicy | None
    diagnostics: Diagnostics
    # SSID lists in final order, with the source label of each entry.
    chwall_entries: list[SsidEntry]
    ste_entries: list[SsidEntry]


def _bad_name(text: str) -> str | None:
    if text == "":
        return "is empty"
    if "\n" in text or "\r" in text:
        return "contains a line break, which would break the .map"
    return None


class _Compiler:
    def __init__(self, src: PolicySource) -> None:
        self.src = src
        self.found = Diagnostics()

    def check_name(self, named: Named, what: str) -> None:
        problem = _bad_name(named.text)
        if problem:
            code = "ACM019" if named.text == "" else "ACM016"
            self.found.add(code, f"{what} {problem}", self.src.at(named))

    def declare_types(self, part: PartSource | None, what: str) -> dict[str, int]:
        numbers: dict[str, int] = {}
        if part is None:
            return numbers
        for named in part.types:
            self.check_name(named, f"{what} type name")
            if named.text in numbers:
                self.found.add(
                    "ACM010",
                    f"{what} type '{named.text}' is declared more than once",
                    self.src.at(named, nth=1),
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
            for named in cs.types:
                t = cw.get(named.text)
                if t is None:
                    self.found.add(
                        "ACM012",
                        f"{label} names '{named.text}', which is not a Chinese Wall type",
                        self.src.at(named),
                    )
                    continue
                if t in members:
                    self.found.add(
                        "ACM013",
                        f"{label} names type '{named.text}' more than once",
                        self.src.at(named, nth=1),
                    )
                    continue
                members.add(t)
            sets.append(tuple(sorted(members)))
        return sets

    def group_types(
        self, label: LabelSource, group: TypeGroup, numbers: dict[str, int], what: str
    ) -> TypeSet:
        members: set[int] = set()
        for named in group.types:
            t = numbers.get(named.text)
            if t is None:
                self.found.add(
                    "ACM011",
                    f"label '{label.name.text}' uses {what} type '{named.text}', "
                    f"which is not declared in the {what} part",
                    self.src.at(named),
                )
                continue
            if t in members:
                self.found.add(
                    "ACM023",
                    f"label '{label.name.text}' lists {what} type '{named.text}' twice",
                    self.src.at(named, nth=1),
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
                types = self.group_types(label, group, ste_numbers, "STE")
                ste_entries.append(SsidEntry(label.name.text, label.kind, types, label))
            for group in label.chwall_groups:
                types = self.group_types(label, group, cw_numbers, "CHWALL")
                cw_entries.append(SsidEntry(label.name.text, label.kind, types, label))

        if src.chwall is not None:
            cw_entries = self.bootstrap_first(cw_entries, "CHWALL")
            self.check_count(cw_entries, "CHWALL")
        if src.ste is not None:
            ste_entries = self.bootstrap_first(ste_entries, "STE")
            self.check_count(ste_entries, "STE")

        if self.found.has_errors:
            return CompileResult(None, self.found, cw_entries, ste_entries)

        # Chinese Wall, when present, is primary; `priority` changes nothing.
        if src.chwall is not None:
            primary = PolicyCode.CHWALL
            secondary = PolicyCode.STE if src.ste is not None else PolicyCode.NULL
        elif src.ste is not None:
            primary, secondary = PolicyCode.STE, PolicyCode.NULL
        else:
            primary = secondary = PolicyCode.NULL

        chwall = ste = None
        chwall_map = ste_map = None
        if src.chwall is not None:
            ssids = tuple(e.types for e in cw_entries)
            chwall = ChwallPolicy(len(cw_numbers), ssids, tuple(sets))
            chwall_map = _map_part(PolicyCode.CHWALL, cw_numbers, cw_entries, ssids)
        if src.ste is not None:
            ssids = tuple(e.types for e in ste_entries)
            ste = StePolicy(len(ste_numbers), ssids)
            ste_map = _map_part(PolicyCode.STE, ste_numbers, ste_entries, ssids)
        name = src.policy_name.text
        binary = BinaryPolicy(name, primary, secondary, chwall, ste)
        pmap = PolicyMap(name, "", "", primary, secondary, chwall_map, ste_map)
        return CompileResult(CompiledPolicy(binary, pmap), self.found, cw_entries, ste_entries)


def what_tag(what: str) -> str:
    return "ChineseWall" if what == "CHWALL" else "SimpleTypeEnforcement"


def _map_part(
    code: PolicyCode, numbers: dict[str, int], entries: list[SsidEntry], ssids: tuple[TypeSet, ...]
) -> MapPart:
    labels = tuple(SsidLabel(e.name, e.kind, i) for i, e in enumerate(entries))
    return MapPart(code, tuple(numbers), labels, ssids)


def compile_source(src: PolicySource) -> CompileResult:
    """Compile; the result's `policy` is None when any error was found."""
    return _Compiler(src).run()


def compile_policy(src: PolicySource) -> tuple[CompiledPolicy, Diagnostics]:
    """Compile or raise PolicyError with every finding. Returns the warnings too."""
    result = compile_source(src)
    if result.policy is None:
        raise PolicyError(result.diagnostics)
    return result.policy, result.diagnostics
