"""The rules of the versioned format and of an update, as error values.

Each function returns `Diagnostics` (every finding, none raised):

- `check_versioned_source(src)`: the rules a versioned policy must keep
  beyond its schema (the compiler runs it; lint and the studio may):
    ACM040 a Version (or FromPolicy's Version) Xen 3.4 cannot read, or one
           that overflows the binary's 32-bit signed version fields
    ACM041 a `:` in a label name (Xen 3.4 writes labels as ACM:POLICY:LABEL)
    ACM042 a conflict set without a name (Xen 3.4 orders them by name)
    ACM043 a resource label with more than one STE type
    ACM044 two labels of one kind renamed from the same old name
    ACM045 a rename whose old name is still a label of this policy (a chain
           or a cycle of renames, which Xen silently ignored); renaming a
           label to itself is only a warning
    ACM046 a character outside ASCII (Xen 3.4's tools cannot hash or
           write such a policy)
    ACM047 a label name used twice in one kind (Xen 3.4: duplicates)
    ACM048 no Chinese Wall types (Xen 3.4 then writes a binary its own
           hypervisor refuses to load)
    ACM051 (a warning) no STE types (Xen 3.4 then loads an STE part without
           types: no two domains share anything)
    and ACM019 for an empty `from=` (which Xen ignored)
- `check_version_text(text, location)`: ACM040 for one version text.
- `check_renames(info)`: ACM044 and ACM045 from a `VersionInfo`.
- `check_update(old, new)`: whether `new` may replace the running `old`,
  as Xen 3.4 decided it, but listing every reason:
    ACM049 the version check: `new` must name `old` and its version in
           FromPolicy and have a greater version (skipped when either is
           Xen's DEFAULT policy, as Xen skipped it)
    ACM050 a `from=` naming no label (of that kind) of `old`
  plus ACM044/ACM045 of `new`'s renames.

Codes are documented with the others in docs/compiler.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import islice

from acm.errors import Diagnostics, Location, Severity
from acm.source import LabelKind, PolicySource
from acm.versioned.info import LabelRename, VersionInfo, compare_versions, version_problem


def check_version_text(text: str, location: Location | None = None) -> Diagnostics:
    """ACM040 when Xen 3.4 could not use `text` as a policy version."""
    found = Diagnostics()
    problem = version_problem(text)
    if problem is not None:
        found.add("ACM040", problem, location or Location())
    return found


def _kind_word(kind: LabelKind) -> str:
    return "VM" if kind is LabelKind.VM else "resource"


def check_renames(info: VersionInfo) -> Diagnostics:
    """ACM044 (an old name claimed twice) and ACM045 (a chain or cycle of
    renames, or a label renamed to itself) of one policy's renames."""
    found = Diagnostics()
    for kind in (LabelKind.VM, LabelKind.RES):
        renames = [r for r in info.renames if r.kind is kind]
        claimants: dict[str, list[str]] = defaultdict(list)
        for rename in renames:
            claimants[rename.old].append(rename.new)
        present = set(info.labels(kind))
        for rename in renames:
            word = _kind_word(kind)
            claimed = claimants[rename.old]
            if len(claimed) > 1:
                others = list(islice((name for name in claimed if name != rename.new), 3))
                more = len(claimed) - 1 - len(others)
                found.add(
                    "ACM044",
                    f"{word} label '{rename.new}' is renamed from '{rename.old}', and so is "
                    + ", ".join(f"'{name}'" for name in others)
                    + (f" and {more} more" if more > 0 else "")
                    + "; one old label can become only one new label",
                    rename.location,
                )
            if rename.old == rename.new:
                found.add(
                    "ACM045",
                    f"{word} label '{rename.new}' is renamed from itself; the from= attribute "
                    "does nothing",
                    rename.location,
                    Severity.WARNING,
                )
            elif rename.old in present:
                found.add(
                    "ACM045",
                    f"{word} label '{rename.new}' is renamed from '{rename.old}', which is "
                    "still a label of this policy (a chain or cycle of renames; Xen ignored "
                    "such renames for running domains)",
                    rename.location,
                )
    return found


_CHARACTER_REFERENCE = re.compile(r"&#(?:x([0-9a-fA-F]+)|([0-9]+));")
_OUTSIDE_ASCII = re.compile("[^\x00-\x7f\ufeff]")  # a byte order mark is no character


def _non_ascii(src: PolicySource) -> Location | None:
    """Where the first character outside ASCII is, written as itself or as
    a character reference (`&#233;`), None when there is none."""
    data = src.text
    if data.isascii() and b"&#" not in data:
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("utf-8", "replace")
    first = _OUTSIDE_ASCII.search(text)
    offsets = [first.start()] if first else []
    for ref in _CHARACTER_REFERENCE.finditer(text):
        value = int(ref.group(1), 16) if ref.group(1) else int(ref.group(2))
        if value > 0x7F:
            offsets.append(ref.start())
            break
    if not offsets:
        return None
    offset = min(offsets)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(src.file, line, column)


def check_versioned_source(src: PolicySource) -> Diagnostics:
    """Every finding of the versioned format's own rules (ACM040-ACM048)."""
    found = Diagnostics()
    versioned = src.versioned
    if versioned is not None:
        for named in (versioned.version, versioned.from_version):
            if named is not None:
                found.extend(check_version_text(named.text, src.at(named)))
    for label in src.labels:
        if label.renamed_from is not None and label.renamed_from.text == "":
            found.add(
                "ACM019",
                f"{_kind_word(label.kind)} label '{label.name.text}' has an empty from= "
                "attribute (Xen 3.4 ignored it; name the old label or leave it out)",
                src.at(label.name),
            )
        if ":" in label.name.text:
            found.add(
                "ACM041",
                f"{_kind_word(label.kind)} label name '{label.name.text}' holds a ':', which "
                "Xen 3.4 uses to separate ACM:POLICY:LABEL",
                src.at(label.name),
            )
    if src.chwall is not None:
        for number, conflict in enumerate(src.chwall.conflict_sets):
            if not conflict.name:
                found.add(
                    "ACM042",
                    f"conflict set {number} has no name; in a versioned policy every "
                    "conflict set is named (Xen 3.4 orders them by name)",
                    src.locate(conflict.line, "Conflict"),
                )
    if src.ste is None:
        found.add(
            "ACM051",
            "a versioned policy without STE types: Xen 3.4 still loads an STE part, with "
            "no types, under which no two domains share anything (no event channel, no "
            "grant), Domain-0 included",
            src.at(src.policy_name),
            Severity.WARNING,
        )
    if src.chwall is None:
        found.add(
            "ACM048",
            "a versioned policy needs Chinese Wall types: without them Xen 3.4 writes a "
            "binary policy its hypervisor refuses to load",
            src.at(src.policy_name),
        )
    for label in src.res_labels:
        types = [t for group in label.ste_groups for t in group.types]
        if len(types) > 1:
            found.add(
                "ACM043",
                f"resource label '{label.name.text}' has {len(types)} STE types; in a "
                "versioned policy a resource label has one",
                src.at(label.name),
            )
    for labels, kind in ((src.vm_labels, LabelKind.VM), (src.res_labels, LabelKind.RES)):
        seen: set[str] = set()
        for label in labels:
            if label.name.text in seen:
                found.add(
                    "ACM047",
                    f"{_kind_word(kind)} label '{label.name.text}' is defined more than once",
                    src.at(label.name),
                )
            seen.add(label.name.text)
    where = _non_ascii(src)
    if where is not None:
        found.add(
            "ACM046",
            "a versioned policy must be ASCII: Xen 3.4's tools can neither hash nor write "
            "other characters",
            where,
        )
    renames = tuple(
        LabelRename(label.kind, label.renamed_from.text, label.name.text, src.at(label.name))
        for label in src.labels
        if label.renamed_from is not None and label.renamed_from.text
    )
    info = VersionInfo(
        name=src.policy_name.text,
        version=None,
        from_policy=None,
        renames=renames,
        vm_labels=tuple(label.name.text for label in src.vm_labels),
        res_labels=tuple(label.name.text for label in src.res_labels),
        unlabeled=frozenset(),
        is_xen_default=False,
        file=src.file,
    )
    found.extend(check_renames(info))
    return found


def check_update(old: VersionInfo, new: VersionInfo) -> Diagnostics:
    """Every reason why `new` may not replace the running policy `old`
    (empty when it may): ACM049 (versions), ACM050 (renames of labels
    `old` does not have), ACM044/ACM045 (`new`'s renames)."""
    found = Diagnostics()
    where = new.version_location if new.version_location.file else Location(new.file)
    if not (old.is_xen_default or new.is_xen_default):
        if old.version is None:
            found.add(
                "ACM049",
                f"the running policy '{old.name}' has no version, so no versioned policy "
                "can update it",
                where,
            )
        if new.version is None:
            found.add(
                "ACM049",
                f"policy '{new.name}' has no version; an update needs Version and FromPolicy",
                where,
            )
        frm = new.from_policy
        if frm is None:
            wanted = f" ({old.name} {old.version})" if old.version is not None else ""
            found.add(
                "ACM049",
                f"policy '{new.name}' has no FromPolicy; an update names the policy and "
                f"version it replaces{wanted}",
                where,
            )
        else:
            at = frm.location if frm.location.file else where
            if frm.name != old.name:
                found.add(
                    "ACM049",
                    f"FromPolicy names policy '{frm.name}', but the running policy is '{old.name}'",
                    at,
                )
            if old.version is not None and frm.version != old.version:
                found.add(
                    "ACM049",
                    f"FromPolicy names version {frm.version}, but the running policy "
                    f"'{old.name}' is version {old.version}",
                    at,
                )
        if (
            old.version is not None
            and new.version is not None
            and compare_versions(new.version, old.version) <= 0
        ):
            found.add(
                "ACM049",
                f"version {new.version} of '{new.name}' is not newer than the running "
                f"version {old.version}",
                where,
            )
    for rename in new.renames:
        if rename.old not in old.labels(rename.kind):
            found.add(
                "ACM050",
                f"{_kind_word(rename.kind)} label '{rename.new}' is renamed from "
                f"'{rename.old}', which is no {_kind_word(rename.kind)} label of policy "
                f"'{old.name}'",
                rename.location if rename.location.file else where,
            )
    found.extend(check_renames(new))
    return found
