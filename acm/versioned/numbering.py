"""The compiler of versioned policies: numbered exactly as Xen 3.4 numbered
them (`ACMPolicy.policy_create_map_and_bin` in 3.4.0-rc3).

Numbering (each rule is Xen 3.4's):
- The STE types and the Chinese Wall types are each sorted by code point;
  a type's number is its place there. Conflict sets are ordered by name.
- Every VM label has an entry in both parts, whether or not it lists types
  of that part. The order is the bootstrap label, then the other labels
  sorted, `__UNLABELED__` left out; a label's SSID in either part is 1 +
  its place, and its ssidref is `(ssid << 16) | ssid`.
- SSID 0 is `__UNLABELED__`: the types of an explicit `__UNLABELED__` VM
  label, or none. The `.map` names it `__UNLABELED__` then, else
  `__NULL_LABEL__`.
- Resource labels with STE types follow the VM labels in the STE part,
  sorted, `__UNLABELED__` left out; they have no Chinese Wall entry.
- Only the first STE and the first Chinese Wall type list of a label count.
- Chinese Wall is primary, STE secondary, whatever `priority` says.

The checks of the 3.0.4 compiler (ACM010-ACM023) run here too, beside the
versioned format's own (`acm.versioned.checks`); every finding of the stage
is reported at once and nothing is compiled when any is an error.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

from acm.errors import Diagnostics, Location, PolicyError
from acm.inputfile import MAX_BINARY_SIZE, binary_size_problem
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
from acm.names import map_name_problem, policy_name_problem
from acm.source import UNLABELED, LabelKind, LabelSource, PolicySource, TypeGroup, misc_parents
from acm.versioned.checks import check_versioned_source
from acm.versioned.info import parse_version
from acm.versioned.xmlhash import MinidomFlavour, policy_hash

if TYPE_CHECKING:
    from lxml import etree

    from acm.source import PolicyDocument


def _r8(n: int) -> int:
    return (n + 7) & ~7


def versioned_binary_size(name: str, cw: tuple[int, int, int], ste: tuple[int, int]) -> int:
    """Bytes of Xen 3.4's `.bin`: cw is (types, ssids, conflict sets), ste (types, ssids)."""
    cw_types, cw_ssids, sets = cw
    ste_types, ste_ssids = ste
    return (
        60
        + _r8(4 + len(name.encode("utf-8")) + 1)
        + _r8(36 + 2 * cw_types * (cw_ssids + sets))
        + _r8(20 + 2 * ste_types * ste_ssids)
    )


def _first_types(groups: list[TypeGroup], numbers: dict[str, int]) -> TypeSet:
    """The type numbers of a label's first type list (Xen reads no other);
    unknown types are reported by the checks and left out here."""
    if not groups:
        return ()
    return tuple(sorted({numbers[t.text] for t in groups[0].types if t.text in numbers}))


def _vm_order(labels: list[LabelSource], bootstrap: str) -> list[LabelSource]:
    """Bootstrap first, the others sorted by name, `__UNLABELED__` left out."""
    boot = [label for label in labels if label.name.text == bootstrap][:1]
    others = sorted(
        (label for label in labels if label.name.text != bootstrap),
        key=lambda label: label.name.text,
    )
    return [label for label in boot + others if label.name.text != UNLABELED]


def compile_versioned_source(
    src: PolicySource,
    xml_hash: bytes,
) -> tuple[CompiledPolicy | None, Diagnostics]:
    """Check and number a versioned policy; the policy is None when any
    finding is an error. `xml_hash` is the SHA-1 the binary carries."""
    from acm.sourcecompiler import SourceCompiler

    assert src.versioned is not None
    checks = SourceCompiler(src)  # the 3.0.4 compiler's checks of names, types and sets
    checks.check_name(src.policy_name, "PolicyName")
    ste_declared = checks.declare_types(src.ste, "STE")
    cw_declared = checks.declare_types(src.chwall, "CHWALL")
    if src.chwall is not None:
        checks.conflict_sets(src.chwall, cw_declared)
    for label in src.labels:
        checks.check_name(label.name, "label name")
        for group in label.ste_groups:
            checks.group_types(label, group, ste_declared, "STE", src.ste)
        for group in label.chwall_groups:
            checks.group_types(label, group, cw_declared, "CHWALL", src.chwall)
    found = checks.found
    found.extend(check_versioned_source(src))

    ste_types = sorted(ste_declared)
    cw_types = sorted(cw_declared)
    ste_numbers = {t: i for i, t in enumerate(ste_types)}
    cw_numbers = {t: i for i, t in enumerate(cw_types)}

    bootstrap = src.bootstrap
    vm_names = {label.name.text for label in src.vm_labels}
    if bootstrap is None:
        found.add(
            "ACM014",
            "the policy has no SubjectLabels, so no bootstrap label for Domain-0",
            src.at(src.policy_name),
        )
    elif bootstrap.text not in vm_names:
        found.add(
            "ACM014",
            f"bootstrap label '{bootstrap.text}' is no VirtualMachineLabel of the policy",
            src.locate(bootstrap.line, "SubjectLabels"),
        )
    elif bootstrap.text == UNLABELED:
        # Xen 3.4 leaves __UNLABELED__ out of the numbering: Domain-0 would
        # run with whichever label came first after it.
        found.add(
            "ACM014",
            f"the bootstrap label may not be {UNLABELED}, which has no SSID of its own "
            "(SSID 0 is every unlabeled domain's)",
            src.locate(bootstrap.line, "SubjectLabels"),
        )
    vms = _vm_order(src.vm_labels, bootstrap.text if bootstrap is not None else "")
    unlabeled_vm = next((vm for vm in src.vm_labels if vm.name.text == UNLABELED), None)
    resources = sorted(
        (r for r in src.res_labels if r.ste_groups and r.name.text != UNLABELED),
        key=lambda r: r.name.text,
    )
    chwall_ssids = 1 + len(vms)
    ste_ssids = chwall_ssids + len(resources)
    conflicts = sorted(
        src.chwall.conflict_sets if src.chwall is not None else (),
        key=lambda c: c.name or "",
    )
    where = src.at(src.policy_name)
    for what, count in (("CHWALL", chwall_ssids), ("STE", ste_ssids)):
        if count > MAX_16BIT:
            found.add(
                "ACM017",
                f"{what} part has {count} SSIDs; at most {MAX_16BIT} fit in 16 bits",
                where,
            )
    size = versioned_binary_size(
        src.policy_name.text,
        (len(cw_types), chwall_ssids, len(conflicts)),
        (len(ste_types), ste_ssids),
    )
    problem = binary_size_problem(size)
    if problem is not None:
        found.add("ACM017", problem, where)
    version = parse_version(src.versioned.version.text)
    if found.has_errors or version is None:
        return None, found

    def cw_row(label: LabelSource | None) -> TypeSet:
        return _first_types(label.chwall_groups, cw_numbers) if label else ()

    def ste_row(label: LabelSource | None) -> TypeSet:
        return _first_types(label.ste_groups, ste_numbers) if label else ()

    set_rows = [
        tuple(sorted({cw_numbers[t.text] for t in c.types if t.text in cw_numbers}))
        for c in conflicts
    ]
    compiled = _assemble(
        src.policy_name.text,
        (version.major, version.minor),
        xml_hash,
        cw_types,
        ste_types,
        set_rows,
        (cw_row(unlabeled_vm), ste_row(unlabeled_vm)) if unlabeled_vm is not None else None,
        [(vm.name.text, cw_row(vm), ste_row(vm)) for vm in vms],
        [(r.name.text, ste_row(r)) for r in resources],
    )
    return compiled, found


def _assemble(
    name: str,
    version: tuple[int, int],
    xml_hash: bytes,
    cw_types: list[str],
    ste_types: list[str],
    set_rows: list[TypeSet],
    unlabeled: tuple[TypeSet, TypeSet] | None,
    vms: list[tuple[str, TypeSet, TypeSet]],
    resources: list[tuple[str, TypeSet]],
) -> CompiledPolicy:
    """The compiled policy from its numbered parts (both paths): `unlabeled`
    the (Chinese Wall, STE) rows of an explicit `__UNLABELED__` VM label,
    `vms` (name, Chinese Wall row, STE row) in SSID order, `resources`
    (name, STE row) in SSID order."""
    chwall_ssids = 1 + len(vms)
    zero_cw, zero_ste = unlabeled if unlabeled is not None else ((), ())
    cw_rows = (zero_cw, *(vm[1] for vm in vms))
    ste_rows = (zero_ste, *(vm[2] for vm in vms), *(r[1] for r in resources))
    vm_entries = [SsidLabel(vm[0], LabelKind.VM, i + 1) for i, vm in enumerate(vms)]
    res_entries = [
        SsidLabel(r[0], LabelKind.RES, chwall_ssids + i) for i, r in enumerate(resources)
    ]
    null = SsidLabel(UNLABELED if unlabeled is not None else NULL_LABEL, LabelKind.ANY, 0)
    binary = BinaryPolicy(
        name,
        PolicyCode.CHWALL,
        PolicyCode.STE,
        ChwallPolicy(len(cw_types), cw_rows, tuple(set_rows)),
        StePolicy(len(ste_types), ste_rows),
        xml_version=version,
        xml_hash=xml_hash,
    )
    pmap = PolicyMap(
        name,
        "",
        "",
        PolicyCode.CHWALL,
        PolicyCode.STE,
        MapPart(PolicyCode.CHWALL, tuple(cw_types), (null, *vm_entries), cw_rows),
        MapPart(PolicyCode.STE, tuple(ste_types), (null, *vm_entries, *res_entries), ste_rows),
    )
    return CompiledPolicy(binary, pmap)


def _type_numbers(type_list: etree._Element | None) -> tuple[list[str], dict[str, int]] | None:
    """A part's declared types, sorted, and their numbers; None when any
    would need a finding (empty, a line break, twice, too many)."""
    if type_list is None:
        return [], {}
    texts: list[str | None] = [t.text for t in type_list]
    names = [t for t in texts if t is not None and not map_name_problem(t)]
    if len(names) != len(texts) or len(set(names)) != len(names) or len(names) > MAX_16BIT:
        return None
    names.sort()
    return names, {t: i for i, t in enumerate(names)}


def _row(group: etree._Element, numbers: dict[str, int]) -> TypeSet | None:
    """A type list's numbers, None for an unknown type or one named twice."""
    texts = [t.text for t in group]
    row = {numbers.get(t, -1) for t in texts}  # type: ignore[arg-type]
    if -1 in row or len(row) != len(texts):
        return None
    return tuple(sorted(row))


def compile_versioned_tree(
    root: etree._Element, data: bytes, xml_hash: bytes
) -> CompiledPolicy | None:
    """What `compile_versioned_source` gives for this schema-valid tree when
    it finds nothing at all (no error, no warning); None as soon as it
    would find something, or the document holds a comment or processing
    instruction, or a byte outside ASCII (the full path then reports with
    places). One pass over the tree, for large policies."""
    from acm.source import (
        T_CHWALL,
        T_CHWALL_TYPES,
        T_CONFLICT,
        T_FROM_POLICY,
        T_HEADER,
        T_OBJECTS,
        T_POLICY_NAME,
        T_STE,
        T_STE_TYPES,
        T_SUBJECTS,
        T_TEMPLATE,
        T_VERSION,
    )

    if not data.isascii() or b"&#" in data or misc_parents(root, data):
        return None
    header = root.find(T_HEADER)
    assert header is not None  # the schema requires it
    name = header.findtext(T_POLICY_NAME) or ""
    version = parse_version(header.findtext(T_VERSION) or "")
    if map_name_problem(name) or policy_name_problem(name) or version is None:
        return None
    from_policy = header.find(T_FROM_POLICY)
    if from_policy is not None and parse_version(from_policy.findtext(T_VERSION) or "") is None:
        return None
    cw = _type_numbers(root.find(f"{T_CHWALL}/{T_CHWALL_TYPES}"))
    ste = _type_numbers(root.find(f"{T_STE}/{T_STE_TYPES}"))
    if cw is None or ste is None or not cw[0] or not ste[0]:  # ACM048, ACM051
        return None
    cw_types, cw_numbers = cw
    ste_types, ste_numbers = ste
    conflicts: list[tuple[str, TypeSet]] = []
    for conflict in root.iter(T_CONFLICT):
        row = _row(conflict, cw_numbers)
        set_name = conflict.get("name")
        if row is None or not set_name:
            return None
        conflicts.append((set_name, row))
    conflicts.sort(key=lambda c: c[0])

    template = root.find(T_TEMPLATE)
    assert template is not None
    subjects, objects = template.find(T_SUBJECTS), template.find(T_OBJECTS)
    if subjects is None:
        return None
    vm_rows: dict[str, tuple[TypeSet, TypeSet]] = {}
    res_rows: dict[str, TypeSet | None] = {}
    renames: list[tuple[dict[str, str], set[str]]] = []
    for labels, rows, is_vm in ((subjects, vm_rows, True), (objects, res_rows, False)):
        renamed: dict[str, str] = {}
        for label in labels if labels is not None else ():
            name_el = label[0]  # the schema puts the Name first
            label_name = name_el.text
            if not label_name or map_name_problem(label_name) or ":" in label_name:
                return None
            if label_name in rows:
                return None  # twice (ACM047)
            old = name_el.get("from")
            if old is not None:
                if not old or old in renamed:
                    return None  # empty (ACM019) or claimed twice (ACM044)
                renamed[old] = label_name
            cw_row: TypeSet | None = None
            ste_row: TypeSet | None = None
            ste_count = 0
            for group in islice(label, 1, None):
                is_ste = group.tag == T_STE_TYPES
                row = _row(group, ste_numbers if is_ste else cw_numbers)
                if row is None:
                    return None  # an unknown type (ACM011) or one twice (ACM023)
                if is_ste:
                    ste_count += len(row)
                    ste_row = row if ste_row is None else ste_row
                else:
                    cw_row = row if cw_row is None else cw_row
            if is_vm:
                vm_rows[label_name] = (cw_row or (), ste_row or ())
            else:
                if ste_count > 1:
                    return None  # ACM043
                res_rows[label_name] = ste_row
        renames.append((renamed, set(rows)))
    for renamed, names in renames:
        if any(old in names for old in renamed):
            return None  # a chain, a cycle or a rename to itself (ACM045)

    bootstrap = subjects.get("bootstrap", "")
    if bootstrap not in vm_rows or bootstrap == UNLABELED:
        return None
    others = sorted(n for n in vm_rows if n != bootstrap and n != UNLABELED)
    vms = [(n, *vm_rows[n]) for n in [bootstrap, *others]]
    resources = sorted(
        (n, row) for n, row in res_rows.items() if row is not None and n != UNLABELED
    )
    chwall_ssids = 1 + len(vms)
    ste_ssids = chwall_ssids + len(resources)
    size = versioned_binary_size(
        name, (len(cw_types), chwall_ssids, len(conflicts)), (len(ste_types), ste_ssids)
    )
    if ste_ssids > MAX_16BIT or size > MAX_BINARY_SIZE:
        return None
    return _assemble(
        name,
        (version.major, version.minor),
        xml_hash,
        cw_types,
        ste_types,
        [row for _, row in conflicts],
        vm_rows.get(UNLABELED),
        vms,
        resources,
    )


def compile_versioned(
    doc: PolicyDocument, flavour: MinidomFlavour = MinidomFlavour.PY26
) -> tuple[CompiledPolicy, Diagnostics]:
    """Compile a parsed, schema-valid versioned policy; PolicyError with
    every finding (in document order) on any error. Returns the warnings.
    A policy without any finding takes the one-pass `compile_versioned_tree`."""
    xml_hash = policy_hash(doc.root, flavour, doc.data)
    quick = compile_versioned_tree(doc.root, doc.data, xml_hash)
    if quick is not None:
        return quick, Diagnostics()
    src = doc.source()
    compiled, found = compile_versioned_source(src, xml_hash)
    ordered = Diagnostics(sorted(found, key=lambda d: (d.location.line, d.location.column)))
    if compiled is None:
        if not ordered.has_errors:
            ordered.add("ACM040", "the policy's Version cannot be read", Location(src.file))
        raise PolicyError(ordered)
    return compiled, ordered
