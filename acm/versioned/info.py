"""What a policy says about its own life, for the update path of a host.

From a policy's source (`read_version_info`, `parse_version_info`,
`version_info`) or its compiled form (`version_info_of_compiled`):

- `name`: the PolicyName;
- `version`: its `PolicyVersion` (major, minor), None for a policy of Xen
  3.0.4's format (no `Version`);
- `from_policy`: `FromPolicy` (name, version) or None;
- `renames`: every `<Name from="old">new</Name>`, as `LabelRename`
  records (kind, old, new, where); `renamed(kind)` gives old -> new of
  one label kind;
- `unlabeled`: where `__UNLABELED__` stands (`has_unlabeled` when anywhere);
- `vm_labels`, `res_labels`: the label names in document order, and
  `is_xen_default`: whether Xen 3.4 would take it for its DEFAULT policy
  (which skips the version check of an update).

The compiled form carries only the name, the version and the labels: its
`from_policy` is None and its `renames` are empty.

Versions: `parse_version` reads a `Version` text as Xen 3.4's code did
(`"2.3"` is (2, 3); three or more digits without a dot, which Xen's schema
lets through, are (number, 0)) and gives None where Xen's code failed or
its 32-bit signed fields overflow (`version_problem` says why).
`PolicyVersion` values compare as Xen compared them: by major, then minor.

The rules of the format and of an update are `acm.versioned.checks`.
Nothing here prints or touches a host; errors are `PolicyError` values.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from acm.errors import Location, PolicyError
from acm.source import UNLABELED, LabelKind, Named, PolicySource

if TYPE_CHECKING:
    from acm.model import CompiledPolicy

MAX_VERSION_FIELD = 0x7FFFFFFF  # Xen 3.4 packs major and minor as signed 32-bit ints
DEFAULT_POLICY_NAME = "DEFAULT"
DEFAULT_LABEL = "SystemManagement"

# What Xen's schema lets through: 1-8 digits, any one character, 1-8 digits.
_DOTTED = re.compile(r"([0-9]{1,8})\.([0-9]{1,8})")
_DIGITS = re.compile(r"[0-9]{3,17}")


class PolicyVersion(NamedTuple):
    """A policy version; tuples order exactly as Xen compared versions."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def next_minor(self) -> PolicyVersion:
        """The version Xen's tools gave an update of this one (minor + 1)."""
        return PolicyVersion(self.major, self.minor + 1)


def version_problem(text: str) -> str | None:
    """Why Xen 3.4 could not use `text` as a policy version, else None."""
    dotted = _DOTTED.fullmatch(text)
    if dotted is None and _DIGITS.fullmatch(text) is None:
        return (
            f"version '{text}' is not MAJOR.MINOR (up to 8 digits each); Xen 3.4's tools "
            "could not read it"
        )
    fields = (int(dotted.group(1)), int(dotted.group(2))) if dotted else (int(text), 0)
    if max(fields) > MAX_VERSION_FIELD:
        return (
            f"version '{text}' reads as {fields[0]}.{fields[1]}, which overflows the binary "
            f"policy's version field (at most {MAX_VERSION_FIELD})"
        )
    return None


def parse_version(text: str) -> PolicyVersion | None:
    """The version as Xen 3.4 read it; None when it could not (`version_problem`)."""
    if version_problem(text) is not None:
        return None
    dotted = _DOTTED.fullmatch(text)
    if dotted:
        return PolicyVersion(int(dotted.group(1)), int(dotted.group(2)))
    return PolicyVersion(int(text), 0)


def compare_versions(left: PolicyVersion, right: PolicyVersion) -> int:
    """<0, 0 or >0 as `left` is older than, equal to or newer than `right`."""
    return (left > right) - (left < right)


class FromPolicy(NamedTuple):
    """The policy (name and version) a versioned policy says it updates."""

    name: str
    version: PolicyVersion
    location: Location = Location()


class LabelRename(NamedTuple):
    """`<Name from="old">new</Name>`: label `old` of the updated policy is `new` here."""

    kind: LabelKind  # VM or RES
    old: str
    new: str
    location: Location = Location()


class VersionInfo(NamedTuple):
    name: str
    version: PolicyVersion | None
    from_policy: FromPolicy | None
    renames: tuple[LabelRename, ...]
    vm_labels: tuple[str, ...]
    res_labels: tuple[str, ...]
    # Where `__UNLABELED__` stands: "VM" / "RES" (a label), "STE" / "CHWALL" (a type).
    unlabeled: frozenset[str]
    is_xen_default: bool
    file: str = ""
    version_location: Location = Location()

    @property
    def versioned(self) -> bool:
        """Whether the policy is of the versioned format (it has a Version)."""
        return self.version is not None

    @property
    def has_unlabeled(self) -> bool:
        return bool(self.unlabeled)

    def renamed(self, kind: LabelKind) -> dict[str, str]:
        """old name -> new name of the renamed labels of one kind (the first
        rename of an old name, when two claim it: `checks` refuses that)."""
        found: dict[str, str] = {}
        for rename in self.renames:
            if rename.kind is kind:
                found.setdefault(rename.old, rename.new)
        return found

    def labels(self, kind: LabelKind) -> tuple[str, ...]:
        return self.vm_labels if kind is LabelKind.VM else self.res_labels


def _version_of(src: PolicySource, named: Named) -> PolicyVersion:
    version = parse_version(named.text)
    if version is None:
        problem = version_problem(named.text)
        assert problem is not None
        raise PolicyError.single("ACM040", problem, src.at(named))
    return version


def _is_xen_default(src: PolicySource) -> bool:
    """Xen 3.4's test for its DEFAULT policy: that name, one VM label
    `SystemManagement` (the bootstrap) with that STE type alone, the STE and
    Chinese Wall types both just `SystemManagement`, no resource label."""

    def type_texts(types: list[Named]) -> list[str]:
        return [t.text for t in types]

    default = [DEFAULT_LABEL]
    vm = src.vm_labels
    return (
        src.policy_name.text == DEFAULT_POLICY_NAME
        and [label.name.text for label in vm] == default
        and src.bootstrap is not None
        and src.bootstrap.text == DEFAULT_LABEL
        and src.ste is not None
        and type_texts(src.ste.types) == default
        and bool(vm[0].ste_groups)
        and type_texts(vm[0].ste_groups[0].types) == default
        and not [label for label in src.res_labels if label.ste_groups]
        and src.chwall is not None
        and type_texts(src.chwall.types) == default
    )


def _unlabeled_in(src: PolicySource) -> frozenset[str]:
    where = set()
    if any(label.name.text == UNLABELED for label in src.vm_labels):
        where.add("VM")
    if any(label.name.text == UNLABELED for label in src.res_labels):
        where.add("RES")
    for part, what in ((src.ste, "STE"), (src.chwall, "CHWALL")):
        if part is not None and any(t.text == UNLABELED for t in part.types):
            where.add(what)
    return frozenset(where)


def version_info(src: PolicySource) -> VersionInfo:
    """The life facts of a parsed policy. PolicyError (ACM040) when its
    Version or FromPolicy's Version cannot be read as Xen 3.4 read them."""
    version = from_policy = None
    version_location = Location()
    if src.versioned is not None:
        version = _version_of(src, src.versioned.version)
        version_location = src.at(src.versioned.version)
        from_name, from_version = src.versioned.from_name, src.versioned.from_version
        if from_name is not None and from_version is not None:
            from_policy = FromPolicy(
                from_name.text, _version_of(src, from_version), src.at(from_name)
            )
    renames = tuple(
        LabelRename(label.kind, label.renamed_from.text, label.name.text, src.at(label.name))
        for label in src.labels
        if label.renamed_from is not None and label.renamed_from.text  # Xen ignored from=""
    )
    return VersionInfo(
        name=src.policy_name.text,
        version=version,
        from_policy=from_policy,
        renames=renames,
        vm_labels=tuple(label.name.text for label in src.vm_labels),
        res_labels=tuple(label.name.text for label in src.res_labels),
        unlabeled=_unlabeled_in(src),
        is_xen_default=_is_xen_default(src),
        file=src.file,
        version_location=version_location,
    )


def parse_version_info(data: bytes, file: str = "<policy>") -> VersionInfo:
    """Parse (hardened, schema-checked) and read a policy's life facts;
    PolicyError carries every finding of the stage that failed."""
    from acm.source import parse_policy_source

    return version_info(parse_policy_source(data, file))


def read_version_info(path: str, display: str | None = None) -> VersionInfo:
    """`parse_version_info` of a policy file (ACM003 when unreadable)."""
    from acm.source import read_policy_source

    return version_info(read_policy_source(path, display))


def version_info_of_compiled(compiled: CompiledPolicy, file: str = "") -> VersionInfo:
    """The life facts a compiled policy (`.bin` and `.map`) still carries:
    name, version and labels; no FromPolicy and no renames (the XML alone
    has them)."""
    binary, pmap = compiled.binary, compiled.map
    vm: list[str] = []
    res: list[str] = []
    types: set[str] = set()
    unlabeled: set[str] = set()
    for part in (pmap.chwall, pmap.ste):
        if part is None:
            continue
        if UNLABELED in part.types:
            unlabeled.add(part.code.name)
        types.update(part.types)
        for entry in part.labels:
            names = {LabelKind.VM: vm, LabelKind.RES: res}.get(entry.kind)
            if names is not None and entry.name not in names:
                names.append(entry.name)
            if entry.name == UNLABELED:
                unlabeled.add("VM" if entry.kind is not LabelKind.RES else "RES")
    version = None if binary.xml_version is None else PolicyVersion(*binary.xml_version)
    is_default = (
        binary.reference_name == DEFAULT_POLICY_NAME
        and vm == [DEFAULT_LABEL]
        and not res
        and types == {DEFAULT_LABEL}
    )
    return VersionInfo(
        name=binary.reference_name,
        version=version,
        from_policy=None,
        renames=(),
        vm_labels=tuple(vm),
        res_labels=tuple(res),
        unlabeled=frozenset(unlabeled),
        is_xen_default=is_default,
        file=file,
    )
