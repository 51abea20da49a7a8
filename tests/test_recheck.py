"""The quick check of an edit (acm.authoring.recheck): lint_source run on
the part of the policy an edit touched gives, on that part, what the full
check gives; the rest of the findings move with their lines."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm.authoring.policyedit import apply_edit
from acm.authoring.recheck import (
    CheckedPolicy,
    checked_policy,
    common_prefix,
    common_suffix,
    recheck,
)
from acm.errors import Diagnostic, PolicyError
from acm.lint.engine import lint_source
from acm.source import line_offsets, parse_policy_document
from tests.hosttools import wide_policy
from xm_core.web.services import text_change

WIDE = wide_policy(60).encode()


def full(xml: bytes) -> tuple[list[Diagnostic], CheckedPolicy | None]:
    src = parse_policy_document(xml, "p.xml").source()
    found = lint_source(src, ())
    found.sort(key=lambda d: (d.location.line, d.location.column, -d.severity.rank, d.code))
    return found, checked_policy(src, found, None)


BEFORE, STATE = full(WIDE)


def label_lines(xml: bytes, name: str) -> int:
    return next(
        n + 1 for n, line in enumerate(xml.split(b"\n")) if f"<Name>{name}</Name>".encode() in line
    )


def agree(quick: list[Diagnostic], whole: list[Diagnostic], lines: tuple[int, int]) -> None:
    """The quick check's findings are the full check's, but for whether an
    untouched label bridges a Chinese Wall (left to the full check)."""

    def seen(found: list[Diagnostic]) -> list[Diagnostic]:
        return [d for d in found if d.code != "ACM030" or lines[0] <= d.location.line <= lines[1]]

    assert seen(quick) == seen(whole)


EDITS: list[dict[str, Any]] = [
    {"op": "set_label_types", "kind": "VM", "name": "vm_3", "part": "STE", "types": ["nope"]},
    {"op": "set_label_types", "kind": "VM", "name": "vm_4", "part": "CHWALL", "types": []},
    {"op": "set_label_types", "kind": "RES", "name": "res_5", "part": "STE", "types": ["ste_0"]},
    {"op": "rename_label", "kind": "VM", "old": "vm_6", "new": "a_name_longer_than_25_bytes"},
    {"op": "add_label", "kind": "VM", "name": "vm_new"},
    {"op": "add_label", "kind": "RES", "name": "res_new"},
    {"op": "delete_label", "kind": "VM", "name": "vm_7"},
    {"op": "delete_label", "kind": "VM", "name": "wall_b"},
    {"op": "set_label_types", "kind": "VM", "name": "vm_8", "part": "STE",
     "types": ["ste_1", "ste_1"]},
]  # fmt: skip


@pytest.mark.parametrize("op", EDITS, ids=lambda op: str(op["op"]))
def test_an_edit_of_labels_is_checked_where_it_touched(op: dict[str, Any]) -> None:
    assert STATE is not None
    new = apply_edit(WIDE, op, "p.xml")
    quick = recheck(STATE, new)
    assert quick is not None, "the edit was not checked in parts"
    whole, _ = full(new)
    agree(quick.state.findings, whole, quick.lines)
    assert not quick.state.complete
    assert quick.state.line_starts == line_offsets(new)
    # what the answer says changed is the difference, lines moved
    gone = {id(d) for d in quick.removed}
    moved = [
        d._replace(location=d.location._replace(line=d.location.line + quick.shift))
        if d.location.line > quick.after
        else d
        for d in STATE.findings
        if id(d) not in gone
    ]
    assert sorted(moved + quick.added) == sorted(quick.state.findings)
    assert len(quick.removed) + len(quick.added) < 10


def test_a_duplicate_name_typed_is_found_on_both_labels() -> None:
    assert STATE is not None
    new = WIDE.replace(b"<Name>vm_9</Name>", b"<Name>vm_2</Name>")
    quick = recheck(STATE, new)
    assert quick is not None
    whole, _ = full(new)
    assert (
        [d for d in quick.state.findings if d.code == "ACM015"]
        == [d for d in whole if d.code == "ACM015"]
        != []
    )
    agree(quick.state.findings, whole, quick.lines)


def test_an_unused_type_is_found_at_its_declaration() -> None:
    assert STATE is not None
    new = apply_edit(WIDE, {"op": "delete_label", "kind": "VM", "name": "wall_b"}, "p.xml")
    quick = recheck(STATE, new)
    assert quick is not None
    unused = [d for d in quick.added if d.code == "ACM026"]
    assert [d.message for d in unused] == [
        "STE type 'ste_b' is used by no label",
        "Chinese Wall type 'cw_y' is used by no label",
    ]


def test_a_bridge_made_by_an_edit_elsewhere_waits_for_the_full_check() -> None:
    assert STATE is not None
    op = {"op": "set_label_types", "kind": "VM", "name": "wall_b", "part": "STE",
          "types": ["ste_b", "ste_a"]}  # fmt: skip
    new = apply_edit(WIDE, op, "p.xml")
    quick = recheck(STATE, new)
    assert quick is not None
    whole, _ = full(new)
    between = label_lines(new, "res_between")
    assert [d.code for d in whole if d.location.line == between] == ["ACM030"]
    assert [d.code for d in quick.state.findings if d.location.line == between] == []


@pytest.mark.parametrize(
    "new",
    [
        WIDE.replace(b"<SubjectLabels bootstrap", b"<SubjectLabels  bootstrap"),
        WIDE.replace(b"<Type>ste_a</Type>\n", b"<Type>ste_a</Type><Type>ste_z</Type>\n"),
        WIDE.replace(b"<Name>vm_boot</Name>", b"<Name>vm_boot2</Name>"),
        WIDE.replace(b"<Name>vm_3</Name>", b"<Name>vm_3</Nam>"),
        WIDE.replace(b"</VirtualMachineLabel>\n<VirtualMachineLabel><Name>vm_5",
                     b"</VirtualMachineLabel><VirtualMachineLabel><Name>vm_5"),
    ],
    ids=["outside-labels", "a-declaration", "the-bootstrap", "not-well-formed", "two-on-a-line"],
)  # fmt: skip
def test_what_cannot_be_cut_out_is_left_to_the_full_check(new: bytes) -> None:
    assert STATE is not None
    assert recheck(STATE, new) is None


def test_labels_that_share_lines_are_never_checked_in_parts() -> None:
    src = parse_policy_document(
        WIDE.replace(b"</ResourceLabel>\n<Resource", b"</ResourceLabel><Resource"), "p"
    ).source()
    assert checked_policy(src, [], None) is None


NAMES = [f"vm_{i}" for i in range(0, 60, 7)]
TYPES = ["ste_0", "ste_3", "ste_a", "ste_b", "undeclared", "cw_1", "cw_x", "cw_y"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda n, part, types: {"op": "set_label_types", "kind": "VM", "name": n,
                                        "part": part, "types": types},
                st.sampled_from(NAMES), st.sampled_from(["STE", "CHWALL"]),
                st.lists(st.sampled_from(TYPES), max_size=3),
            ),
            st.builds(lambda n: {"op": "delete_label", "kind": "VM", "name": n},
                      st.sampled_from(NAMES)),
            st.builds(lambda n: {"op": "add_label", "kind": "RES", "name": n},
                      st.sampled_from(["vm_0", "res_0", "fresh"])),
        ),
        min_size=1,
        max_size=3,
    )
)  # fmt: skip
def test_edits_one_after_another_agree_with_the_full_check(ops: list[dict[str, Any]]) -> None:
    """Each quick check starts from the last one: outside the lines of the
    labels edited so far, only ACM030 may wait for the full check."""
    state = STATE
    assert state is not None
    xml = WIDE
    for op in ops:
        try:
            xml = apply_edit(xml, op, "p.xml")
        except PolicyError:  # an edit the editor refuses (a label already gone)
            continue
        quick = recheck(state, xml)
        whole, fresh = full(xml)
        if quick is None:
            assert fresh is not None
            state = fresh
            continue
        assert quick.state.line_starts == line_offsets(xml)
        non_bridges = [d for d in quick.state.findings if d.code != "ACM030"]
        assert non_bridges == [d for d in whole if d.code != "ACM030"]
        state = quick.state


def _naive_common(a: str, b: str) -> tuple[int, int]:
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    tail = 0
    while tail < min(len(a), len(b)) - start and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return start, tail


bmp_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))


@given(bmp_text, bmp_text)
def test_common_start_and_end_of_two_texts(a: str, b: str) -> None:
    start = common_prefix(a, b)
    assert (start, common_suffix(a, b, min(len(a), len(b)) - start)) == _naive_common(a, b)
    raw_a, raw_b = a.encode(), b.encode()
    assert (
        common_prefix(raw_a, raw_b)
        == _naive_common(raw_a.decode("latin-1"), raw_b.decode("latin-1"))[0]
    )


@given(bmp_text, bmp_text)
def test_the_studios_text_change_turns_the_old_text_into_the_new(old: str, new: str) -> None:
    change = text_change(old, new)
    assert change is not None
    assert old[: change["from"]] + change["insert"] + old[change["to"] :] == new


@pytest.mark.parametrize(
    "xml",
    [
        WIDE,
        WIDE.replace(b"</ResourceLabel>\n<Resource", b"</ResourceLabel><Resource"),
        apply_edit(WIDE, {"op": "bump_version"}, "p.xml"),  # versioned: not in parts
        wide_policy(3).encode().replace(b"<Type>ste_1</Type>", b"<Type> ste_1 </Type>"),
    ],
    ids=["wide", "labels-sharing-lines", "versioned", "spaced-type"],
)
def test_checked_document_reads_the_labels_from_the_tree_as_the_source_model(
    xml: bytes,
) -> None:
    from acm.authoring.recheck import checked_document

    doc = parse_policy_document(xml, "p.xml")
    found, _ = full(xml) if b"<Version>" not in xml else ([], None)
    checked = checked_document(doc, found, None)
    assert checked == checked_policy(doc.source(), found, None)
    in_parts = b"<Version>" not in xml and b"</ResourceLabel><Resource" not in xml
    assert (checked is not None) == in_parts
