"""acm.authoring.policyedit: each edit, renames carried to every reference, and the
invariant that renaming types or labels never changes the compiled `.bin`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acm.authoring.policyedit import apply_edit, outline
from acm.binfmt import binary_bytes
from acm.compiler import compile_document
from acm.errors import PolicyError
from acm.mapfile import render_map
from acm.source import parse_policy_document
from xm_core.files.paths import example_policy_bytes

EXAMPLE = example_policy_bytes()


def compiled(data: bytes) -> Any:
    policy, findings = compile_document(parse_policy_document(data))
    assert not findings.has_errors
    return policy


def edits(data: bytes, *ops: dict[str, Any]) -> bytes:
    for op in ops:
        data = apply_edit(data, op)
    return data


def test_no_edit_changes_nothing_that_compiles() -> None:
    once = edits(EXAMPLE, {"op": "set_header", "field": "Date", "value": "2026-11-26"})
    assert binary_bytes(compiled(once).binary) == binary_bytes(compiled(EXAMPLE).binary)
    assert b"Domain-0 needs every type" in once  # comments survive


names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)


@given(
    st.sampled_from(
        [("STE", t) for t in outline(EXAMPLE)["parts"]["STE"]["types"]]
        + [("CHWALL", t) for t in outline(EXAMPLE)["parts"]["CHWALL"]["types"]]
    ),
    names,
)
def test_renaming_a_type_keeps_the_binary(target: tuple[str, dict[str, Any]], new: str) -> None:
    part, declared = target
    existing = {t["name"] for t in outline(EXAMPLE)["parts"][part]["types"]}
    op = {"op": "rename_type", "part": part, "old": declared["name"], "new": new}
    if new in existing and new != declared["name"]:
        with pytest.raises(PolicyError):
            apply_edit(EXAMPLE, op)
        return
    after = apply_edit(EXAMPLE, op)
    assert binary_bytes(compiled(after).binary) == binary_bytes(compiled(EXAMPLE).binary)
    back = apply_edit(after, {**op, "old": new, "new": declared["name"]})
    assert render_map(compiled(back).map) == render_map(compiled(EXAMPLE).map)


@given(
    st.sampled_from([lbl["name"] for lbl in outline(EXAMPLE)["labels"] if lbl["kind"] == "VM"]),
    names,
)
def test_renaming_a_vm_label_keeps_the_binary_and_the_bootstrap(old: str, new: str) -> None:
    existing = {lbl["name"] for lbl in outline(EXAMPLE)["labels"] if lbl["kind"] == "VM"}
    op = {"op": "rename_label", "kind": "VM", "old": old, "new": new}
    if new in existing and new != old:
        with pytest.raises(PolicyError):
            apply_edit(EXAMPLE, op)
        return
    after = apply_edit(EXAMPLE, op)
    assert binary_bytes(compiled(after).binary) == binary_bytes(compiled(EXAMPLE).binary)
    boot = outline(EXAMPLE)["bootstrap"]
    assert outline(after)["bootstrap"] == (new if old == boot else boot)


def test_deleting_a_type_removes_every_reference() -> None:
    after = apply_edit(EXAMPLE, {"op": "delete_type", "part": "CHWALL", "name": "cw_Sensitive"})
    assert b"cw_Sensitive<" not in after
    view = outline(after)
    assert view["conflict_sets"][0]["types"] == ["cw_Distrusted"]
    banking = next(lbl for lbl in view["labels"] if lbl["name"] == "dom_HomeBanking")
    # the emptied list stays, for the user to fill or delete: the schema says where
    assert [g["types"] for g in banking["chwall"]] == [[]]
    with pytest.raises(PolicyError) as caught:
        parse_policy_document(after)
    lines = [d.location.line for d in caught.value.diagnostics]
    assert caught.value.diagnostics.codes() == ["ACM002"]
    assert banking["line"] <= lines[0] <= banking["last_line"]


def test_header_fields_are_added_in_schema_order_and_removed_when_emptied() -> None:
    after = edits(
        EXAMPLE,
        {"op": "set_header", "field": "NameSpaceUrl", "value": "urn:x"},
        {"op": "set_header", "field": "Reference", "value": "r"},
    )
    header = outline(after)["header"]
    assert list(header) == ["PolicyName", "PolicyUrl", "Reference", "Date", "NameSpaceUrl"]
    compiled(after)  # still schema-valid
    gone = apply_edit(after, {"op": "set_header", "field": "Reference", "value": ""})
    assert "Reference" not in outline(gone)["header"]


def test_priority_marks_one_part() -> None:
    after = apply_edit(EXAMPLE, {"op": "set_priority", "part": "STE"})
    parts = outline(after)["parts"]
    assert (
        parts["STE"]["priority"] == "PrimaryPolicyComponent" and parts["CHWALL"]["priority"] is None
    )
    again = apply_edit(after, {"op": "set_priority", "part": "CHWALL"})
    parts = outline(again)["parts"]
    assert (
        parts["STE"]["priority"] is None and parts["CHWALL"]["priority"] == "PrimaryPolicyComponent"
    )
    compiled(again)


def test_parts_are_removed_with_their_label_types_and_added_back() -> None:
    ste_only = apply_edit(EXAMPLE, {"op": "remove_part", "part": "CHWALL"})
    view = outline(ste_only)
    assert view["parts"]["CHWALL"] is None and all(not lbl["chwall"] for lbl in view["labels"])
    policy = compiled(ste_only)
    assert policy.binary.chwall is None
    back = apply_edit(ste_only, {"op": "add_part", "part": "CHWALL", "type": "cw_One"})
    assert [t["name"] for t in outline(back)["parts"]["CHWALL"]["types"]] == ["cw_One"]


def test_conflict_sets_are_added_changed_and_deleted() -> None:
    after = apply_edit(
        EXAMPLE, {"op": "add_conflict_set", "name": "X", "types": ["cw_Isolated", "cw_Sensitive"]}
    )
    sets = outline(after)["conflict_sets"]
    assert sets[1] == {**sets[1], "name": "X", "types": ["cw_Isolated", "cw_Sensitive"]}
    assert len(compiled(after).binary.chwall.conflict_sets) == 2
    changed = apply_edit(
        after, {"op": "set_conflict_set", "index": 1, "name": "", "types": ["cw_Isolated"]}
    )
    assert outline(changed)["conflict_sets"][1]["name"] is None
    deleted = edits(
        changed,
        {"op": "delete_conflict_set", "index": 1},
        {"op": "delete_conflict_set", "index": 0},
    )
    assert outline(deleted)["conflict_sets"] == []
    compiled(deleted)  # an empty ConflictSets element is removed with its last set


def test_labels_are_added_typed_and_deleted() -> None:
    after = edits(
        EXAMPLE,
        {"op": "add_label", "kind": "VM", "name": "dom_New"},
        {
            "op": "set_label_types",
            "kind": "VM",
            "name": "dom_New",
            "part": "STE",
            "types": ["ste_DonatedCycles"],
        },
        {
            "op": "set_label_types",
            "kind": "VM",
            "name": "dom_New",
            "part": "CHWALL",
            "types": ["cw_Isolated"],
        },
        {"op": "add_label", "kind": "RES", "name": "res_New"},
        {
            "op": "set_label_types",
            "kind": "RES",
            "name": "res_New",
            "part": "STE",
            "types": ["ste_DonatedCycles"],
        },
    )
    policy = compiled(after)
    vm_names = [lbl.name for lbl in policy.map.ste.labels]
    assert "dom_New" in vm_names and "res_New" in vm_names
    gone = edits(
        after,
        {"op": "delete_label", "kind": "VM", "name": "dom_New"},
        {"op": "delete_label", "kind": "RES", "name": "res_New"},
    )
    assert binary_bytes(compiled(gone).binary) == binary_bytes(compiled(EXAMPLE).binary)


def test_bootstrap_moves_to_another_vm_label() -> None:
    after = apply_edit(EXAMPLE, {"op": "set_bootstrap", "name": "dom_Fun"})
    assert outline(after)["bootstrap"] == "dom_Fun"


@pytest.mark.parametrize(
    "op",
    [
        {"op": "no_such_edit"},
        {"op": "rename_type", "part": "STE", "old": "ste_None", "new": "x"},
        {"op": "rename_type", "part": "XX", "old": "a", "new": "b"},
        {"op": "add_type", "part": "STE", "name": "ste_PersonalFinances"},
        {"op": "add_label", "kind": "VM", "name": "dom_Fun"},
        {"op": "rename_label", "kind": "VM", "old": "dom_Fun", "new": "dom_HomeBanking"},
        {"op": "set_bootstrap", "name": "res_EthernetCard"},
        {"op": "delete_conflict_set", "index": 7},
        {"op": "set_label_types", "kind": "VM", "name": "dom_Fun", "part": "STE", "types": "x"},
        {"op": "set_header", "field": "Evil", "value": "x"},
    ],
)
def test_impossible_edits_are_refused_with_edit001(op: dict[str, Any]) -> None:
    with pytest.raises(PolicyError) as caught:
        apply_edit(EXAMPLE, op)
    assert caught.value.diagnostics.codes() == ["EDIT001"]


def test_a_document_that_is_not_well_formed_cannot_be_edited() -> None:
    with pytest.raises(PolicyError) as caught:
        apply_edit(b"<SecurityPolicyDefinition", {"op": "add_type"})
    assert caught.value.diagnostics.codes() == ["ACM001"]
