"""acm.authoring.policyedit's versioned lifecycle: `bump_version` numbers a
policy as Xen 3.4's tools did, and renames in a policy with a FromPolicy are
written as `from=`, which the versioned compiler reads back as the renames made."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acm.authoring.policyedit import apply_edit, outline
from acm.compiler import compile_document
from acm.errors import PolicyError
from acm.source import parse_policy_document
from acm.versioned.info import PolicyVersion, parse_version_info
from xm_core.files.paths import example_policy_bytes

EXAMPLE = example_policy_bytes()
NAME = "example.chwall_ste.client_v1"
BUMP = {"op": "bump_version"}


def edits(data: bytes, *ops: dict[str, Any]) -> bytes:
    for op in ops:
        data = apply_edit(data, op)
    return data


def compiles_versioned(data: bytes) -> None:
    doc = parse_policy_document(data)  # against the versioned schema: element order
    assert doc.versioned
    _, findings = compile_document(doc)
    assert not findings.has_errors


def header_tags(data: bytes) -> list[str]:
    return list(outline(data)["header"])


def test_a_304_policy_becomes_version_1_0_without_from_policy() -> None:
    once = apply_edit(EXAMPLE, BUMP)
    info = parse_version_info(once)
    assert info.version == PolicyVersion(1, 0) and info.from_policy is None
    assert outline(once)["version"] == "1.0" and outline(once)["from_policy"] is None
    assert header_tags(once) == ["PolicyName", "PolicyUrl", "Date", "Version"]
    compiles_versioned(once)


def test_a_versioned_policy_gets_minor_plus_one_and_from_policy() -> None:
    twice = edits(EXAMPLE, BUMP, BUMP)
    info = parse_version_info(twice)
    assert info.version == PolicyVersion(1, 1)
    assert info.from_policy is not None
    assert (info.from_policy.name, info.from_policy.version) == (NAME, PolicyVersion(1, 0))
    assert header_tags(twice) == ["PolicyName", "PolicyUrl", "Date", "Version", "FromPolicy"]
    thrice = apply_edit(twice, BUMP)
    assert outline(thrice)["from_policy"]["version"] == "1.1"
    assert outline(thrice)["version"] == "1.2"
    assert thrice.count(b"<FromPolicy>") == 1
    compiles_versioned(thrice)
    # a header field added later still goes before Version (the schema's order)
    later = apply_edit(thrice, {"op": "set_header", "field": "NameSpaceUrl", "value": "urn:x"})
    assert header_tags(later)[-3:] == ["NameSpaceUrl", "Version", "FromPolicy"]
    compiles_versioned(later)


def test_renames_write_from_keep_the_first_and_a_rename_back_removes_it() -> None:
    def rename(data: bytes, old: str, new: str) -> bytes:
        return apply_edit(data, {"op": "rename_label", "kind": "VM", "old": old, "new": new})

    # no FromPolicy (a 3.0.4 policy, or its first version): nothing to say from=
    assert b"from=" not in rename(apply_edit(EXAMPLE, BUMP), "dom_Fun", "dom_Play")
    bumped = edits(EXAMPLE, BUMP, BUMP)
    once = rename(bumped, "dom_Fun", "dom_Play")
    assert b'<Name from="dom_Fun">dom_Play</Name>' in once
    again = rename(once, "dom_Play", "dom_Games")
    assert b'<Name from="dom_Fun">dom_Games</Name>' in again
    assert b"from=" not in rename(again, "dom_Games", "dom_Fun")
    play = next(lbl for lbl in outline(again)["labels"] if lbl["name"] == "dom_Games")
    assert play["from"] == "dom_Fun"
    # the next version updates this one: its from= are of the version before
    assert b"from=" not in apply_edit(again, BUMP)


def test_a_version_xen_could_not_read_has_no_next_version() -> None:
    bad = apply_edit(EXAMPLE, BUMP).replace(b"<Version>1.0</Version>", b"<Version>1x</Version>")
    with pytest.raises(PolicyError) as caught:
        apply_edit(bad, BUMP)
    assert caught.value.diagnostics.codes() == ["EDIT001"]
    assert "1x" in next(iter(caught.value.diagnostics)).message


LABELS = [(lbl["kind"], lbl["name"]) for lbl in outline(EXAMPLE)["labels"]]
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(range(len(LABELS))), st.one_of(names, st.none())), max_size=6
    )
)
def test_bump_then_renames_compile_to_the_renames_made(
    steps: list[tuple[int, str | None]],
) -> None:
    """Renames (a new name, or None: back to the original) of the labels of a
    new version: the versioned compiler takes the result, and its renames are
    exactly each label's original name -> its last name, where they differ."""
    data = edits(EXAMPLE, BUMP, BUMP)
    current = {i: name for i, (_, name) in enumerate(LABELS)}
    for index, new in steps:
        kind, original = LABELS[index]
        target = original if new is None else new
        taken = {current[j] for j, (k, _) in enumerate(LABELS) if k == kind and j != index}
        op = {"op": "rename_label", "kind": kind, "old": current[index], "new": target}
        if target in taken:
            with pytest.raises(PolicyError):
                apply_edit(data, op)
            continue
        data = apply_edit(data, op)
        current[index] = target
    compiles_versioned(data)
    made = {
        (kind, original, current[i])
        for i, (kind, original) in enumerate(LABELS)
        if current[i] != original
    }
    got = {(r.kind.value, r.old, r.new) for r in parse_version_info(data).renames}
    assert got == made
