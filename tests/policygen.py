"""Hypothesis strategies for random policies, written as XML source.

`valid_policies()` gives policies the compiler must take without any
finding; `any_policies()` also gives broken ones (repeated, unknown or empty
names, line breaks, a missing bootstrap label). Both may sprinkle comments
anywhere, including inside type lists and names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import strategies as st
from lxml import etree


def examples(default: int) -> int:
    """Examples per property test: `default`, or $ACM_HYPOTHESIS_EXAMPLES for a deeper run."""
    return int(os.environ.get("ACM_HYPOTHESIS_EXAMPLES") or default)


NS = "http://www.ibm.com"
Q = "{" + NS + "}"

# Names the .map can carry back: no spaces or line breaks; some non-ASCII
# (padded by UTF-8 bytes) and some longer than the 25 columns.
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+.:éß€"
safe_names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=30)
# A small pool makes collisions (repeats, unknowns) likely; "" and a line
# break are names the compiler refuses.
pool_names = st.sampled_from(["a", "b", "c", "dom0", "x y", "", "line\nbreak", "é"])
# A PolicyName must be a dotted policy name (acm.names) to compile.
policy_names = st.lists(
    st.from_regex(r"[A-Za-z0-9_+\-]{1,12}", fullmatch=True), min_size=1, max_size=3
).map(".".join)


@dataclass
class Label:
    name: str
    ste_groups: list[list[str]] = field(default_factory=list)
    chwall_groups: list[list[str]] = field(default_factory=list)


@dataclass
class PolicySpec:
    name: str
    ste: list[str] | None
    chwall: list[str] | None
    conflicts: list[tuple[str | None, list[str]]]
    bootstrap: str | None  # None: no SubjectLabels element
    vms: list[Label]
    resources: list[Label]
    priority_on: str | None = None  # "ste" or "chwall": ignored by the compiler
    comments: str | None = None  # "between" elements, or also "inside" names

    def to_xml(self) -> bytes:
        return etree.tostring(self.tree(), xml_declaration=True, encoding="UTF-8")

    def tree(self) -> etree._Element:
        def el(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
            child = etree.SubElement(parent, Q + tag)
            if text is not None:
                child.text = text
            return child

        def types(parent: etree._Element, tag: str, names: list[str]) -> None:
            holder = el(parent, tag)
            for name in names:
                t = el(holder, "Type", name)
                if self.comments == "inside" and name:
                    # A comment inside the name is skipped; the name stays whole.
                    t.text = name[:1]
                    comment = etree.Comment(" split ")
                    comment.tail = name[1:]
                    t.append(comment)
                if self.comments:
                    holder.append(etree.Comment(" between types "))

        root = etree.Element(Q + "SecurityPolicyDefinition", nsmap={None: NS})
        if self.comments:
            root.append(etree.Comment(" a comment "))
        header = el(root, "PolicyHeader")
        el(header, "PolicyName", self.name)
        if self.ste is not None:
            part = el(root, "SimpleTypeEnforcement")
            if self.priority_on == "ste":
                part.set("priority", "PrimaryPolicyComponent")
            types(part, "SimpleTypeEnforcementTypes", self.ste)
        if self.chwall is not None:
            part = el(root, "ChineseWall")
            if self.priority_on == "chwall":
                part.set("priority", "PrimaryPolicyComponent")
            types(part, "ChineseWallTypes", self.chwall)
            if self.conflicts:
                sets = el(part, "ConflictSets")
                for name, members in self.conflicts:
                    conflict = el(sets, "Conflict")
                    if name is not None:
                        conflict.set("name", name)
                    for member in members:
                        el(conflict, "Type", member)
        template = el(root, "SecurityLabelTemplate")
        if self.bootstrap is not None:
            subjects = el(template, "SubjectLabels")
            subjects.set("bootstrap", self.bootstrap)
            for label in self.vms:
                if self.comments:  # counted by len(), not a label
                    subjects.append(etree.Comment(" between labels "))
                vm = el(subjects, "VirtualMachineLabel")
                el(vm, "Name", label.name)
                if self.comments:
                    vm.append(etree.Comment(" inside a label "))
                for group in label.ste_groups:
                    types(vm, "SimpleTypeEnforcementTypes", group)
                for group in label.chwall_groups:
                    types(vm, "ChineseWallTypes", group)
        if self.resources:
            objects = el(template, "ObjectLabels")
            for label in self.resources:
                res = el(objects, "ResourceLabel")
                el(res, "Name", label.name)
                for group in label.ste_groups:
                    types(res, "SimpleTypeEnforcementTypes", group)
        return root


def _groups(draw: st.DrawFn, declared: list[str] | None, most: int) -> list[list[str]]:
    if not declared:
        return []
    count = draw(st.integers(0, most))
    return [
        draw(st.lists(st.sampled_from(declared), min_size=1, max_size=4, unique=True))
        for _ in range(count)
    ]


@st.composite
def valid_policies(draw: st.DrawFn) -> PolicySpec:
    """A policy the compiler takes without an error or a warning."""
    parts = draw(st.sampled_from(["ste", "chwall", "both", "both"]))
    ste = chwall = None
    if parts in ("ste", "both"):
        ste = draw(st.lists(safe_names, min_size=1, max_size=8, unique=True))
    if parts in ("chwall", "both"):
        chwall = draw(st.lists(safe_names, min_size=1, max_size=8, unique=True))
    conflicts: list[tuple[str | None, list[str]]] = []
    if chwall:
        for _ in range(draw(st.integers(0, 3))):
            members = draw(st.lists(st.sampled_from(chwall), min_size=1, max_size=4, unique=True))
            conflicts.append((draw(st.none() | safe_names), members))
    vm_names = draw(st.lists(safe_names, min_size=1, max_size=6))
    vms = [Label(n, _groups(draw, ste, 2), _groups(draw, chwall, 2)) for n in vm_names]
    # The bootstrap label needs an entry in every list the policy has.
    boot = draw(st.sampled_from(vms))
    if ste and not boot.ste_groups:
        boot.ste_groups.append([draw(st.sampled_from(ste))])
    if chwall and not boot.chwall_groups:
        boot.chwall_groups.append([draw(st.sampled_from(chwall))])
    res_names = draw(st.lists(safe_names, max_size=4))
    resources = [Label(n, _groups(draw, ste, 2)) for n in res_names]
    return PolicySpec(
        name=draw(policy_names),
        ste=ste,
        chwall=chwall,
        conflicts=conflicts,
        bootstrap=boot.name,
        vms=vms,
        resources=resources,
        priority_on=draw(st.sampled_from([None, "ste", "chwall"])),
        comments=draw(st.sampled_from([None, "between", "inside"])),
    )


@st.composite
def any_policies(draw: st.DrawFn) -> PolicySpec:
    """Schema-valid policies, often with semantic defects."""
    ste = draw(st.none() | st.lists(pool_names, min_size=1, max_size=5))
    chwall = draw(st.none() | st.lists(pool_names, min_size=1, max_size=5))
    conflicts: list[tuple[str | None, list[str]]] = []
    if chwall is not None:
        conflicts = [
            (None, draw(st.lists(pool_names, min_size=1, max_size=3)))
            for _ in range(draw(st.integers(0, 2)))
        ]

    def groups(most: int) -> list[list[str]]:
        return [
            draw(st.lists(pool_names, min_size=1, max_size=3))
            for _ in range(draw(st.integers(0, most)))
        ]

    vms = [Label(n, groups(2), groups(2)) for n in draw(st.lists(pool_names, max_size=4))]
    resources = [Label(n, groups(2)) for n in draw(st.lists(pool_names, max_size=3))]
    bootstrap = draw(st.none() | pool_names) if vms else None
    return PolicySpec(
        name=draw(pool_names),
        ste=ste,
        chwall=chwall,
        conflicts=conflicts,
        bootstrap=bootstrap,
        vms=vms,
        resources=resources,
        comments=draw(st.sampled_from([None, "between", "inside"])),
    )


# Names a versioned policy takes: ASCII, no ':' (Xen 3.4's label syntax).
VERSIONED_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+."
versioned_names = st.text(alphabet=VERSIONED_NAME_CHARS, min_size=1, max_size=20).filter(
    lambda name: name != "__UNLABELED__"  # VersionedSpec adds that one itself
)


@dataclass
class VersionedSpec:
    """A versioned policy (Xen 3.4's format): a PolicySpec plus its version."""

    policy: PolicySpec
    version: str
    unlabeled: bool = False  # an explicit __UNLABELED__ VM label
    # label position -> its from= (VM labels, then resource labels, in order)
    renames: dict[int, str] = field(default_factory=dict)

    def to_xml(self) -> bytes:
        root = self.policy.tree()
        header = root.find(Q + "PolicyHeader")
        assert header is not None
        etree.SubElement(header, Q + "Version").text = self.version
        labels = [*root.iter(Q + "VirtualMachineLabel"), *root.iter(Q + "ResourceLabel")]
        for position, old in self.renames.items():
            if position < len(labels):
                labels[position][0].set("from", old)
        subjects = root.find(f"{Q}SecurityLabelTemplate/{Q}SubjectLabels")
        if self.unlabeled and subjects is not None:
            label = etree.SubElement(subjects, Q + "VirtualMachineLabel")
            etree.SubElement(label, Q + "Name").text = "__UNLABELED__"
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@st.composite
def versioned_policies(draw: st.DrawFn) -> VersionedSpec:
    """A versioned policy the compiler takes without an error: Chinese Wall
    types, named conflict sets, unique label names, resource labels with
    one STE type."""
    ste = draw(st.none() | st.lists(versioned_names, min_size=1, max_size=6, unique=True))
    chwall = draw(st.lists(versioned_names, min_size=1, max_size=6, unique=True))
    conflicts: list[tuple[str | None, list[str]]] = [
        (
            draw(versioned_names),
            draw(st.lists(st.sampled_from(chwall), min_size=1, max_size=4, unique=True)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    vm_names = draw(st.lists(versioned_names, min_size=1, max_size=6, unique=True))
    vms = [Label(n, _groups(draw, ste, 1), _groups(draw, chwall, 1)) for n in vm_names]
    res_names = draw(st.lists(versioned_names, max_size=4, unique=True)) if ste else []
    resources = [Label(n, [[draw(st.sampled_from(ste))]] if ste else []) for n in res_names]
    spec = PolicySpec(
        name=draw(policy_names),
        ste=ste,
        chwall=chwall,
        conflicts=conflicts,
        bootstrap=draw(st.sampled_from(vm_names)),
        vms=vms,
        resources=resources,
        comments=draw(st.sampled_from([None, "between"])),
    )
    major, minor = draw(st.integers(0, 99999999)), draw(st.integers(0, 99999999))
    old_names = st.from_regex(r"gone[0-9]{1,3}", fullmatch=True)
    valid_renames = st.dictionaries(st.integers(0, 9), old_names, max_size=4).filter(
        lambda found: len(set(found.values())) == len(found)  # each old name claimed once
    )
    return VersionedSpec(spec, f"{major}.{minor}", draw(st.booleans()), draw(valid_renames))


def renames() -> st.SearchStrategy[dict[int, str]]:
    """from= attributes: mostly names of no label (a valid rename), sometimes
    a label's own name (a chain, a cycle or a rename to itself), a name two
    labels claim, or an empty one."""
    old_names = st.sampled_from(["old1", "old2", "a", "b", "dom0", ""]) | st.from_regex(
        r"gone[0-9]{1,3}", fullmatch=True
    )
    return st.dictionaries(st.integers(0, 9), old_names, max_size=4)


@st.composite
def any_versioned_policies(draw: st.DrawFn) -> VersionedSpec:
    """Versioned policies, valid or with any defect of either format."""
    if draw(st.booleans()):
        return draw(versioned_policies())
    version = draw(st.sampled_from(["1.0", "2.30", "100", "1x0", "12345678901234567"]))
    return VersionedSpec(draw(any_policies()), version, draw(st.booleans()), draw(renames()))
