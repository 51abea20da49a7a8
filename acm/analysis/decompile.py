"""A `.bin` (and its `.map`) back to an XML source that compiles to the
identical `.bin` (and, with the `.map`, the identical `.map` but for the two
path lines, which depend on where it is compiled).

The `.bin` holds the two SSID lists with their types, the conflict sets and
the type counts, but no names. The compiler builds each list by walking the
labels in document order, each `SimpleTypeEnforcementTypes` of a label
adding one STE entry and each `ChineseWallTypes` one CHWALL entry, resource
labels (STE entries only) after the VM labels; then it moves the
bootstrap's first entry to SSID 1. So:

- with the `.map`, every entry has its label's name and kind. The move is
  undone by leaving the bootstrap's entry first (first among the resource
  entries when it is one); consecutive entries with one name are one label
  with several groups; and a VM label takes its STE and CHWALL runs together
  when their names line up, else it is written twice (the compiler accepts
  repeated names, and the lists come out the same);
- without it, the names are made up (`ste_type_N`, `cw_type_N`,
  `label_ssid_N`): CHWALL entry i and STE entry i form the VM label
  `label_ssid_i` (entry 1, the bootstrap's, first), further STE entries
  become resource labels `res_ssid_N`, further CHWALL entries VM labels
  `label_chwall_ssid_N`.

Conflict set names and header fields other than the name are not in either
file. Every result is compiled again in memory and compared before it is
returned, so what this module hands out round-trips or is an error.

A versioned `.bin` (Xen 3.4's, policy version 4) is numbered otherwise:
types, the VM labels after the bootstrap's, resource labels and conflict
sets are each sorted by name, and every VM label has one entry in each part.
So its source is written from the SSIDs in order: the header's version as
`Version`; made-up names are zero-padded (`label_ssid_0002`) so that they
sort as their numbers; conflict sets are named `set_N` in their order (the
files keep no conflict-set names); SSID 0 becomes an explicit
`__UNLABELED__` VM label when the `.map` names it so or it has types.
FromPolicy and the renames (`from=`) are in no compiled file. The result
compiles back to the same `.bin` but for the 20 bytes of the XML hash,
which is a hash of the XML text itself.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acm.analysis.loader import analysis_error, check_map_matches
from acm.model import NULL_LABEL, BinaryPolicy, CompiledPolicy, PolicyCode, PolicyMap, TypeSet
from acm.source import NS, LabelKind

if TYPE_CHECKING:
    from lxml import etree


@dataclass(frozen=True)
class Entry:
    """One SSID entry of a part, as the decompiler places it."""

    name: str
    kind: LabelKind
    types: TypeSet


@dataclass
class LabelPlan:
    """One label to write: its name, kind and the entries of its groups."""

    name: str
    kind: LabelKind
    ste: list[TypeSet] = field(default_factory=list)
    chwall: list[TypeSet] = field(default_factory=list)


@dataclass
class DecompileResult:
    xml: bytes
    policy_name: str
    names_from_map: bool
    vm_labels: int
    res_labels: int

    def format(self) -> list[str]:
        return [self.summary()]

    def summary(self) -> str:
        names = "names from the .map" if self.names_from_map else "made-up names (no .map)"
        return (
            f"decompiled policy '{self.policy_name}': {self.vm_labels} VM labels, "
            f"{self.res_labels} resource labels, {names}; it compiles back to the same .bin"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_name,
            "names_from_map": self.names_from_map,
            "vm_labels": self.vm_labels,
            "res_labels": self.res_labels,
            "verified": True,
            "xml": self.xml.decode("utf-8"),
        }


def _fail(message: str) -> Exception:
    return analysis_error("ANA020", f"cannot decompile: {message}")


def _check_producible(binary: BinaryPolicy) -> None:
    want = {
        (True, True): (PolicyCode.CHWALL, PolicyCode.STE),
        (True, False): (PolicyCode.CHWALL, PolicyCode.NULL),
        (False, True): (PolicyCode.STE, PolicyCode.NULL),
        (False, False): (PolicyCode.NULL, PolicyCode.NULL),
    }[(binary.chwall is not None, binary.ste is not None)]
    if (binary.primary, binary.secondary) != want:
        raise _fail(
            f"primary {binary.primary.name} with secondary {binary.secondary.name} comes from no "
            "source policy (the compiler always makes the Chinese Wall part primary)"
        )
    if binary.chwall is not None:
        for i, row in enumerate(binary.chwall.conflict_sets):
            if not row:
                raise _fail(f"conflict set {i} is empty, and a source Conflict names a type")
    for code in (PolicyCode.CHWALL, PolicyCode.STE):
        part = binary.part(code)
        if part is None:
            continue
        if len(part.ssids) < 2:
            raise _fail(f"the {code.name} part has no SSID for the bootstrap label")
        for ssid, types in enumerate(part.ssids[1:], 1):
            if not types:
                raise _fail(
                    f"{code.name} SSID {ssid:x} has no types, and a source label group names one"
                )


def _map_entries(binary: BinaryPolicy, pmap: PolicyMap) -> dict[PolicyCode, list[Entry]]:
    found: dict[PolicyCode, list[Entry]] = {}
    for code in (PolicyCode.CHWALL, PolicyCode.STE):
        part, mpart = binary.part(code), pmap.part(code)
        if part is None or mpart is None:
            continue
        null = mpart.labels[0]
        if (null.name, null.kind) != (NULL_LABEL, LabelKind.ANY):
            raise _fail(f"{code.name} SSID 0 is not the null label {NULL_LABEL}")
        entries = []
        for lab in mpart.labels[1:]:
            if lab.kind is LabelKind.ANY or (
                code is PolicyCode.CHWALL and lab.kind is LabelKind.RES
            ):
                raise _fail(f"{code.name} SSID {lab.ssid:x} has kind {lab.kind.value}")
            entries.append(Entry(lab.name, lab.kind, part.ssids[lab.ssid]))
        found[code] = entries
    names = {code: entries[0].name for code, entries in found.items()}
    if len(set(names.values())) > 1:
        raise _fail("SSID 1 (the bootstrap label) has different names in the two parts")
    return found


def _undo_bootstrap_move(entries: list[Entry]) -> list[Entry]:
    """Entry 0 (SSID 1) back where the compiler can have found it: first of its kind."""
    boot, rest = entries[0], entries[1:]
    if boot.kind is LabelKind.VM:
        ordered = entries
    else:
        first_res = next((i for i, e in enumerate(rest) if e.kind is LabelKind.RES), len(rest))
        ordered = rest[:first_res] + [boot] + rest[first_res:]
    seen_res = False
    for e in ordered:
        if e.kind is LabelKind.RES:
            seen_res = True
        elif seen_res:
            raise _fail(f"VM entry '{e.name}' follows a resource entry in the STE SSIDs")
    return ordered


def _runs(entries: list[Entry]) -> list[list[Entry]]:
    """Consecutive entries of one name (one label with several groups)."""
    runs: list[list[Entry]] = []
    for e in entries:
        if runs and runs[-1][0].name == e.name:
            runs[-1].append(e)
        else:
            runs.append([e])
    return runs


def _merge(ste_runs: list[list[Entry]], cw_runs: list[list[Entry]]) -> list[LabelPlan]:
    """VM labels in document order: an STE run and a CHWALL run of one name make
    one label when they line up; any order that keeps each list's order is right."""
    where_cw: dict[str, list[int]] = defaultdict(list)
    where_ste: dict[str, list[int]] = defaultdict(list)
    for j, run in enumerate(cw_runs):
        where_cw[run[0].name].append(j)
    for i, run in enumerate(ste_runs):
        where_ste[run[0].name].append(i)

    def later(where: dict[str, list[int]], name: str, pos: int) -> bool:
        spots = where.get(name, [])
        return bisect.bisect_right(spots, pos) < len(spots)

    plans: list[LabelPlan] = []
    i = j = 0
    while i < len(ste_runs) or j < len(cw_runs):
        s = ste_runs[i] if i < len(ste_runs) else None
        c = cw_runs[j] if j < len(cw_runs) else None
        if s is not None and c is not None and s[0].name == c[0].name:
            plans.append(
                LabelPlan(s[0].name, LabelKind.VM, [e.types for e in s], [e.types for e in c])
            )
            i, j = i + 1, j + 1
        elif c is None or (
            s is not None
            and not (later(where_cw, s[0].name, j) and not later(where_ste, c[0].name, i))
        ):
            assert s is not None
            plans.append(LabelPlan(s[0].name, LabelKind.VM, [e.types for e in s], []))
            i += 1
        else:
            plans.append(LabelPlan(c[0].name, LabelKind.VM, [], [e.types for e in c]))
            j += 1
    return plans


def _plans_from_map(binary: BinaryPolicy, pmap: PolicyMap) -> tuple[list[LabelPlan], str | None]:
    entries = _map_entries(binary, pmap)
    bootstrap = next((found[0].name for found in entries.values()), None)
    cw = entries.get(PolicyCode.CHWALL, [])
    ste = _undo_bootstrap_move(entries[PolicyCode.STE]) if PolicyCode.STE in entries else []
    ste_vm = [e for e in ste if e.kind is LabelKind.VM]
    ste_res = [e for e in ste if e.kind is LabelKind.RES]
    plans = _merge(_runs(ste_vm), _runs(cw))
    plans += [
        LabelPlan(run[0].name, LabelKind.RES, [e.types for e in run]) for run in _runs(ste_res)
    ]
    return plans, bootstrap


def _plans_made_up(binary: BinaryPolicy) -> tuple[list[LabelPlan], str | None]:
    cw = list(binary.chwall.ssids[1:]) if binary.chwall else []
    ste = list(binary.ste.ssids[1:]) if binary.ste else []
    plans = []
    for n in range(1, max(len(cw), len(ste)) + 1):
        c = [cw[n - 1]] if n <= len(cw) else []
        s = [ste[n - 1]] if n <= len(ste) else []
        if c and s or not (cw and ste):
            plans.append(LabelPlan(f"label_ssid_{n}", LabelKind.VM, s, c))
        elif s:
            plans.append(LabelPlan(f"res_ssid_{n}", LabelKind.RES, s))
        else:
            plans.append(LabelPlan(f"label_chwall_ssid_{n}", LabelKind.VM, [], c))
    return plans, (plans[0].name if plans else None)


def _type_names(binary: BinaryPolicy, pmap: PolicyMap | None) -> tuple[list[str], list[str]]:
    if pmap is not None:
        ste = list(pmap.ste.types) if pmap.ste else []
        cw = list(pmap.chwall.types) if pmap.chwall else []
        return ste, cw
    ste = [f"ste_type_{i}" for i in range(binary.ste.max_types)] if binary.ste else []
    cw = [f"cw_type_{i}" for i in range(binary.chwall.max_types)] if binary.chwall else []
    return ste, cw


# The source documents both decompilers write: elements in the policy's
# namespace, type lists, and the document with its comment.


def _policy_root() -> etree._Element:
    from lxml import etree

    return etree.Element("{" + NS + "}SecurityPolicyDefinition", nsmap={None: NS})  # type: ignore[dict-item]


def _add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    from lxml import etree

    el = etree.SubElement(parent, "{" + NS + "}" + tag)
    if text is not None:
        el.text = text
    return el


def _type_list(parent: etree._Element, tag: str, numbers: TypeSet, names: list[str]) -> None:
    group = _add(parent, tag)
    for t in numbers:
        _add(group, "Type", names[t])


def _document(root: etree._Element, comment: str) -> bytes:
    from lxml import etree

    etree.indent(root, space="  ")
    return b"\n".join(
        [
            b'<?xml version="1.0" encoding="UTF-8"?>',
            etree.tostring(etree.Comment(comment), encoding="UTF-8"),
            etree.tostring(root, encoding="UTF-8"),
            b"",
        ]
    )


def _xml(
    binary: BinaryPolicy,
    plans: list[LabelPlan],
    bootstrap: str | None,
    ste_names: list[str],
    cw_names: list[str],
    comment: str,
) -> bytes:
    root = _policy_root()
    add, types = _add, _type_list

    header = add(root, "PolicyHeader")
    add(header, "PolicyName", binary.reference_name)
    if binary.ste is not None:
        types(add(root, "SimpleTypeEnforcement"), "SimpleTypeEnforcementTypes",
              tuple(range(binary.ste.max_types)), ste_names)  # fmt: skip
    if binary.chwall is not None:
        part = add(root, "ChineseWall")
        types(part, "ChineseWallTypes", tuple(range(binary.chwall.max_types)), cw_names)
        if binary.chwall.conflict_sets:
            sets = add(part, "ConflictSets")
            for row in binary.chwall.conflict_sets:
                conflict = add(sets, "Conflict")
                for t in row:
                    add(conflict, "Type", cw_names[t])
    template = add(root, "SecurityLabelTemplate")
    vms = [p for p in plans if p.kind is LabelKind.VM]
    res = [p for p in plans if p.kind is LabelKind.RES]
    if bootstrap is not None and not vms:
        # Every entry named after the bootstrap is a resource's: its VM label had no types.
        vms = [LabelPlan(bootstrap, LabelKind.VM)]
    if vms:
        subjects = add(template, "SubjectLabels")
        subjects.set("bootstrap", bootstrap or vms[0].name)
        for p in vms:
            label = add(subjects, "VirtualMachineLabel")
            add(label, "Name", p.name)
            for group in p.ste:
                types(label, "SimpleTypeEnforcementTypes", group, ste_names)
            for group in p.chwall:
                types(label, "ChineseWallTypes", group, cw_names)
    if res:
        objects = add(template, "ObjectLabels")
        for p in res:
            label = add(objects, "ResourceLabel")
            add(label, "Name", p.name)
            for group in p.ste:
                types(label, "SimpleTypeEnforcementTypes", group, ste_names)
    return _document(root, comment)


def _verify(xml: bytes, original: CompiledPolicy | BinaryPolicy) -> None:
    """Compile `xml` in memory; it must give back the same `.bin` (and `.map`)."""
    from acm.errors import PolicyError
    from acm.source import parse_policy_source
    from acm.sourcecompiler import compile_source

    try:
        result = compile_source(parse_policy_source(xml, "<decompiled>"))
    except PolicyError as exc:
        raise _fail(f"the names cannot be written as a valid source ({exc})") from None
    if result.policy is None:
        first = result.diagnostics.errors[0]
        raise _fail(f"the names do not make a valid source ({first.code}: {first.message})")
    binary = original.binary if isinstance(original, CompiledPolicy) else original
    if result.policy.binary != binary:
        raise _fail("internal error: the source does not compile back to the same .bin")
    if isinstance(original, CompiledPolicy):
        got, want = result.policy.map, original.map
        if (got.chwall, got.ste, got.reference_name) != (
            want.chwall,
            want.ste,
            want.reference_name,
        ):
            raise _fail("the .map cannot be reproduced: its names are not what the compiler writes")


def _padded(prefix: str, count: int) -> list[str]:
    """`prefix_0001`..: made-up names that sort as their numbers."""
    width = max(4, len(str(count)))
    return [f"{prefix}_{n:0{width}d}" for n in range(count)]


def _versioned_xml(binary: BinaryPolicy, pmap: PolicyMap | None, comment: str) -> bytes:
    """The source of a versioned binary, numbered as Xen 3.4 numbers (see the module)."""

    from acm.source import UNLABELED

    chwall, ste, version = binary.chwall, binary.ste, binary.xml_version
    assert chwall is not None and ste is not None and version is not None
    vm_count = chwall.max_ssidrefs - 1
    res_count = ste.max_ssidrefs - chwall.max_ssidrefs
    if res_count < 0:
        raise _fail("the STE part has fewer SSIDs than there are VM labels")
    if pmap is not None and pmap.chwall is not None and pmap.ste is not None:
        cw_names, ste_names = list(pmap.chwall.types), list(pmap.ste.types)
        zero = pmap.chwall.labels[0].name
        vm_names = [e.name for e in pmap.chwall.labels[1:]]
        res_names = [e.name for e in pmap.ste.labels[chwall.max_ssidrefs :]]
    else:
        cw_names = _padded("cw_type", chwall.max_types)
        ste_names = _padded("ste_type", ste.max_types)
        zero = UNLABELED if chwall.ssids[0] or ste.ssids[0] else NULL_LABEL
        vm_names = _padded("label_ssid", vm_count + 1)[1:]
        res_names = _padded("res_ssid", ste.max_ssidrefs)[chwall.max_ssidrefs :]
    for ssid, row in enumerate(ste.ssids[chwall.max_ssidrefs :], chwall.max_ssidrefs):
        if len(row) != 1:
            raise _fail(
                f"STE SSID {ssid:x} is a resource label's with {len(row)} types; a versioned "
                "source gives each resource label exactly one"
            )
    for i, row in enumerate(chwall.conflict_sets):
        if not row:
            raise _fail(f"conflict set {i} is empty, and a source Conflict names a type")

    root = _policy_root()
    add = _add

    def types(parent: etree._Element, tag: str, numbers: TypeSet, names: list[str]) -> None:
        if numbers:  # a versioned source writes no empty type list
            _type_list(parent, tag, numbers, names)

    header = add(root, "PolicyHeader")
    add(header, "PolicyName", binary.reference_name)
    add(header, "Version", f"{version[0]}.{version[1]}")
    if ste.max_types:
        types(add(root, "SimpleTypeEnforcement"), "SimpleTypeEnforcementTypes",
              tuple(range(ste.max_types)), ste_names)  # fmt: skip
    part = add(root, "ChineseWall")
    types(part, "ChineseWallTypes", tuple(range(chwall.max_types)), cw_names)
    if chwall.conflict_sets:
        sets = add(part, "ConflictSets")
        for row, name in zip(
            chwall.conflict_sets, _padded("set", len(chwall.conflict_sets)), strict=True
        ):
            conflict = add(sets, "Conflict")
            conflict.set("name", name)
            for t in row:
                add(conflict, "Type", cw_names[t])
    template = add(root, "SecurityLabelTemplate")
    vms = [(name, ssid) for ssid, name in enumerate(vm_names, 1)]
    if zero == UNLABELED:
        vms.append((UNLABELED, 0))
    if vms:
        subjects = add(template, "SubjectLabels")
        subjects.set("bootstrap", vm_names[0] if vm_names else UNLABELED)
        for name, ssid in vms:
            label = add(subjects, "VirtualMachineLabel")
            add(label, "Name", name)
            types(label, "SimpleTypeEnforcementTypes", ste.ssids[ssid], ste_names)
            types(label, "ChineseWallTypes", chwall.ssids[ssid], cw_names)
    if res_names:
        objects = add(template, "ObjectLabels")
        for name, ssid in zip(res_names, range(chwall.max_ssidrefs, ste.max_ssidrefs), strict=True):
            label = add(objects, "ResourceLabel")
            add(label, "Name", name)
            types(label, "SimpleTypeEnforcementTypes", ste.ssids[ssid], ste_names)
    return _document(root, comment)


def _verify_versioned(xml: bytes, binary: BinaryPolicy, pmap: PolicyMap | None) -> None:
    """Compile `xml` in memory: the same `.bin` but for the XML hash (and the same `.map`)."""
    from acm.errors import PolicyError
    from acm.source import parse_policy_document
    from acm.versioned.numbering import compile_versioned

    try:
        compiled, _ = compile_versioned(parse_policy_document(xml, "<decompiled>"))
    except PolicyError as exc:
        raise _fail(f"the names do not make a valid versioned source ({exc})") from None
    if compiled.binary._replace(xml_hash=binary.xml_hash) != binary:
        raise _fail("internal error: the source does not compile back to the same .bin")
    if pmap is not None and (compiled.map.chwall, compiled.map.ste) != (pmap.chwall, pmap.ste):
        raise _fail("the .map cannot be reproduced: its names are not what the compiler writes")


def decompile(
    binary: BinaryPolicy, pmap: PolicyMap | None = None, origin: str = ""
) -> DecompileResult:
    """XML source for `binary` (names from `pmap` when given), checked to compile
    back to the same binary (and map; a versioned binary but for its XML hash)."""
    if binary.versioned:
        return _decompile_versioned(binary, pmap, origin)
    _check_producible(binary)
    if pmap is not None:
        check_map_matches(CompiledPolicy(binary, pmap), origin)
        plans, bootstrap = _plans_from_map(binary, pmap)
    else:
        plans, bootstrap = _plans_made_up(binary)
    ste_names, cw_names = _type_names(binary, pmap)
    source = f" from {origin}" if origin else ""
    comment = (
        f" Decompiled by xm acm decompile{source}"
        + ("" if pmap else "; no .map, so every name is made up")
        + ". It compiles to the same .bin. "
    )
    try:
        xml = _xml(binary, plans, bootstrap, ste_names, cw_names, comment.replace("--", "- -"))
    except ValueError as exc:  # lxml refuses text that XML cannot hold
        raise _fail(f"a name cannot be written in XML ({exc})") from None
    _verify(xml, CompiledPolicy(binary, pmap) if pmap is not None else binary)
    return DecompileResult(
        xml,
        binary.reference_name,
        pmap is not None,
        sum(p.kind is LabelKind.VM for p in plans),
        sum(p.kind is LabelKind.RES for p in plans),
    )


def decompile_files(bin_path: str, map_path: str | None = None) -> DecompileResult:
    """`xm acm decompile`: read a `.bin` (and a `.map`) and decompile them."""
    from acm.analysis.loader import read_file
    from acm.binfmt import decode_binary
    from acm.mapfile import parse_map

    binary = decode_binary(read_file(bin_path), bin_path)
    pmap = parse_map(read_file(map_path), map_path) if map_path is not None else None
    return decompile(binary, pmap, bin_path)


def _decompile_versioned(
    binary: BinaryPolicy, pmap: PolicyMap | None, origin: str
) -> DecompileResult:
    if pmap is not None:
        check_map_matches(CompiledPolicy(binary, pmap), origin)
    source = f" from {origin}" if origin else ""
    comment = (
        f" Decompiled by xm acm decompile{source}"
        + ("" if pmap else "; no .map, so every name is made up")
        + ". It compiles to the same .bin but for the XML hash. "
    )
    try:
        xml = _versioned_xml(binary, pmap, comment.replace("--", "- -"))
    except ValueError as exc:  # lxml refuses text that XML cannot hold
        raise _fail(f"a name cannot be written in XML ({exc})") from None
    _verify_versioned(xml, binary, pmap)
    assert binary.chwall is not None and binary.ste is not None
    vm_count = binary.chwall.max_ssidrefs - 1
    return DecompileResult(
        xml,
        binary.reference_name,
        pmap is not None,
        vm_count,
        binary.ste.max_ssidrefs - binary.chwall.max_ssidrefs,
    )
