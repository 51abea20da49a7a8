"""The compiled policy, as the `.bin` and `.map` files hold it.

`BinaryPolicy` is exactly what the `.bin` says (no names); `PolicyMap` is
exactly what the `.map` says (names, kinds, numbering). `CompiledPolicy`
pairs the two. Type sets are tuples of type numbers in ascending order.
The records are NamedTuples (cheap to define; see acm.errors).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from functools import cached_property
from itertools import accumulate, count, islice, repeat
from operator import ge

from acm.records import NamedTuple
from acm.source import LabelKind

ACM_MAGIC = 0x0001DEBC
ACM_POLICY_VERSION = 2
ACM_POLICY_VERSION_VERSIONED = 4  # Xen 3.4's layout, with the XML version and hash
ACM_CHWALL_VERSION = 1
ACM_STE_VERSION = 1
NULL_LABEL = "__NULL_LABEL__"
MAX_16BIT = 0xFFFF

TypeSet = tuple[int, ...]


def ascending_within_rows(flat: Sequence[int], sizes: Iterable[int]) -> bool:
    """Whether `flat`, cut into rows of `sizes` numbers, is strictly
    ascending within every row (the order of a TypeSet), checked over all
    rows at once: every fall (or repeat) of the whole list is where a row
    starts, that is, there are as many falls in all as there are there."""
    if len(flat) < 2:
        return True
    falls: int = sum(map(ge, flat, islice(flat, 1, None)))
    if not falls:
        return True
    starts = set(accumulate(sizes))
    starts.discard(0)
    starts.discard(len(flat))
    before = map(flat.__getitem__, map((-1).__add__, starts))
    at_starts: int = sum(map(ge, before, map(flat.__getitem__, starts)))
    return falls == at_starts


class PolicyCode(IntEnum):
    NULL = 0
    CHWALL = 1
    STE = 2

    @property
    def map_name(self) -> str:
        return self.name

    @property
    def title(self) -> str:
        return {0: "NULL", 1: "CHINESE WALL", 2: "SIMPLE TYPE ENFORCEMENT"}[self.value]


class ChwallPolicy(NamedTuple):
    max_types: int
    ssids: tuple[TypeSet, ...]
    conflict_sets: tuple[TypeSet, ...]

    @property
    def max_ssidrefs(self) -> int:
        return len(self.ssids)


class StePolicy(NamedTuple):
    max_types: int
    ssids: tuple[TypeSet, ...]

    @property
    def max_ssidrefs(self) -> int:
        return len(self.ssids)


class BinaryPolicy(NamedTuple):
    reference_name: str
    primary: PolicyCode
    secondary: PolicyCode
    chwall: ChwallPolicy | None = None
    ste: StePolicy | None = None
    # A versioned policy (Xen 3.4's `.bin`, policy version 4) carries the
    # XML policy's (major, minor) version and the SHA-1 of its XML; None and
    # b"" for Xen 3.0.4's layout (policy version 2).
    xml_version: tuple[int, int] | None = None
    xml_hash: bytes = b""

    @property
    def versioned(self) -> bool:
        return self.xml_version is not None

    def part(self, code: PolicyCode) -> ChwallPolicy | StePolicy | None:
        if code is PolicyCode.CHWALL:
            return self.chwall
        if code is PolicyCode.STE:
            return self.ste
        return None


class SsidLabel(NamedTuple):
    """One `LABEL->SSID` line: the label owning SSID number `ssid` of a part."""

    name: str
    kind: LabelKind
    ssid: int


class _MapPartFields(NamedTuple):
    code: PolicyCode
    types: tuple[str, ...]  # type names by type number
    labels: tuple[SsidLabel, ...]  # by SSID number
    ssid_types: tuple[TypeSet, ...]  # the SSID->TYPE lines, by SSID number


class MapPart(_MapPartFields):
    """What the `.map` says about one policy part. (A subclass of the record
    so that it has a `__dict__` for the cached label index.)"""

    def type_names(self, types: TypeSet) -> list[str]:
        return [self.types[t] for t in types]

    @cached_property
    def by_name(self) -> dict[str, tuple[SsidLabel, ...]]:
        """The entries of each label name, built once: label lookups on large
        policies must not scan every label."""
        found: dict[str, list[SsidLabel]] = {}
        for entry in self.labels:
            found.setdefault(entry.name, []).append(entry)
        return {name: tuple(entries) for name, entries in found.items()}


class PolicyMap(NamedTuple):
    reference_name: str
    policy_file: str
    binary_file: str
    primary: PolicyCode
    secondary: PolicyCode
    chwall: MapPart | None
    ste: MapPart | None

    def part(self, code: PolicyCode) -> MapPart | None:
        if code is PolicyCode.CHWALL:
            return self.chwall
        if code is PolicyCode.STE:
            return self.ste
        return None


class CompiledPolicy(NamedTuple):
    binary: BinaryPolicy
    map: PolicyMap

    @property
    def name(self) -> str:
        return self.binary.reference_name

    def map_mismatches(self) -> list[str]:
        """Every way the `.map` fails to describe the `.bin` it is paired with
        (empty when it does): a copied, renamed or half-replaced pair."""
        binary, pmap = self.binary, self.map
        problems = []
        if pmap.reference_name != binary.reference_name:
            problems.append(
                f"its reference name '{pmap.reference_name}' is not the binary's "
                f"'{binary.reference_name}'"
            )
        if (pmap.primary, pmap.secondary) != (binary.primary, binary.secondary):
            problems.append("its primary/secondary parts differ from the binary's")
        for part_map, part_bin in ((pmap.chwall, binary.chwall), (pmap.ste, binary.ste)):
            if (part_map is None) != (part_bin is None):
                problems.append("it has other policy parts than the binary")
            elif part_map is not None and part_bin is not None:
                if len(part_map.types) != part_bin.max_types:
                    problems.append(
                        f"its {part_map.code.name} part has {len(part_map.types)} types, "
                        f"the binary's {part_bin.max_types}"
                    )
                elif part_map.ssid_types != part_bin.ssids:
                    problems.append(f"its {part_map.code.name} SSIDs differ from the binary's")
        return problems


# (label name, kind, types) of one SSID, in final order.
LabelEntry = tuple[str, LabelKind, TypeSet]


def assemble_policy(
    name: str,
    cw_types: list[str] | None,
    sets: Sequence[TypeSet],
    cw_entries: list[LabelEntry],
    ste_types: list[str] | None,
    ste_entries: list[LabelEntry],
) -> CompiledPolicy:
    """The compiled policy from SSID lists in final order (both of
    `acm.compiler`'s paths: the fast one and `acm.sourcecompiler`'s)."""
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
    code: PolicyCode, types: list[str], entries: list[LabelEntry], ssids: tuple[TypeSet, ...]
) -> MapPart:
    # tuple.__new__ straight from the zipped fields: SsidLabel(...) would run
    # its generated Python __new__ once per label (30,000: 10 ms against 6).
    fields = zip([e[0] for e in entries], [e[1] for e in entries], count())
    labels = tuple(map(tuple.__new__, repeat(SsidLabel), fields))
    return MapPart(code, tuple(types), labels, ssids)
