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

from typing import TYPE_CHECKING

from acm.errors import Diagnostics, Location, PolicyError
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
from acm.source import UNLABELED, LabelKind, LabelSource, PolicySource, TypeGroup
from acm.versioned.checks import check_versioned_source
from acm.versioned.info import parse_version
from acm.versioned.xmlhash import MinidomFlavour, policy_hash

if TYPE_CHECKING:
    from acm.source import PolicyDocument

MAX_BINARY_SIZE = 0xFFFFFFFF


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
    from acm.compiler import _Compiler

    assert src.versioned is not None
    checks = _Compiler(src)  # the 3.0.4 compiler's checks of names, types and sets
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
    if size > MAX_BINARY_SIZE:
        found.add(
            "ACM017",
            f"the binary policy would be {size} bytes; its 32-bit length field allows "
            f"at most {MAX_BINARY_SIZE}",
            where,
        )
    version = parse_version(src.versioned.version.text)
    if found.has_errors or version is None:
        return None, found

    def cw_row(label: LabelSource | None) -> TypeSet:
        return _first_types(label.chwall_groups, cw_numbers) if label else ()

    def ste_row(label: LabelSource | None) -> TypeSet:
        return _first_types(label.ste_groups, ste_numbers) if label else ()

    zero = UNLABELED if unlabeled_vm is not None else NULL_LABEL
    cw_rows = (cw_row(unlabeled_vm), *(cw_row(vm) for vm in vms))
    ste_rows = (
        ste_row(unlabeled_vm),
        *(ste_row(vm) for vm in vms),
        *(ste_row(r) for r in resources),
    )
    set_rows = tuple(
        tuple(sorted({cw_numbers[t.text] for t in c.types if t.text in cw_numbers}))
        for c in conflicts
    )
    vm_entries = [SsidLabel(vm.name.text, LabelKind.VM, i + 1) for i, vm in enumerate(vms)]
    res_entries = [
        SsidLabel(r.name.text, LabelKind.RES, chwall_ssids + i) for i, r in enumerate(resources)
    ]
    null = SsidLabel(zero, LabelKind.ANY, 0)
    chwall = ChwallPolicy(len(cw_types), cw_rows, set_rows)
    ste = StePolicy(len(ste_types), ste_rows)
    binary = BinaryPolicy(
        src.policy_name.text,
        PolicyCode.CHWALL,
        PolicyCode.STE,
        chwall,
        ste,
        xml_version=(version.major, version.minor),
        xml_hash=xml_hash,
    )
    pmap = PolicyMap(
        src.policy_name.text,
        "",
        "",
        PolicyCode.CHWALL,
        PolicyCode.STE,
        MapPart(PolicyCode.CHWALL, tuple(cw_types), (null, *vm_entries), cw_rows),
        MapPart(PolicyCode.STE, tuple(ste_types), (null, *vm_entries, *res_entries), ste_rows),
    )
    return CompiledPolicy(binary, pmap), found


def compile_versioned(
    doc: PolicyDocument, flavour: MinidomFlavour = MinidomFlavour.PY26
) -> tuple[CompiledPolicy, Diagnostics]:
    """Compile a parsed, schema-valid versioned policy; PolicyError with
    every finding (in document order) on any error. Returns the warnings."""
    src = doc.source()
    compiled, found = compile_versioned_source(src, policy_hash(doc.root, flavour, doc.data))
    ordered = Diagnostics(sorted(found, key=lambda d: (d.location.line, d.location.column)))
    if compiled is None:
        if not ordered.has_errors:
            ordered.add("ACM040", "the policy's Version cannot be read", Location(src.file))
        raise PolicyError(ordered)
    return compiled, ordered
