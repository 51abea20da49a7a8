"""`xm acm diff` on policies (acm.analysis.diff)."""

from __future__ import annotations

import json

from hypothesis import given, settings

from acm.analysis.diff import diff_policies
from acm.analysis.loader import load_policy_file, load_xml
from acm.source import LabelKind
from tests.conftest import EXAMPLE_XML, REPO
from tests.test_analysis_support import Spec, analysed, data_policy, specs

GOLDEN = REPO / "tests" / "golden"


def test_a_policy_is_identical_to_itself_and_to_its_binary() -> None:
    d = diff_policies(load_xml(EXAMPLE_XML), load_xml(EXAMPLE_XML))
    assert d.identical and d.format()[-1] == "No differences."
    binary = load_policy_file(GOLDEN / "example.chwall_ste.client_v1.bin")
    assert diff_policies(load_xml(EXAMPLE_XML), binary).identical


def test_reordering_labels_is_renumbering_only() -> None:
    d = diff_policies(load_xml(EXAMPLE_XML), load_xml(data_policy("example_reordered")))
    assert not d.identical
    assert [(x.name, x.status) for x in d.labels] == [
        ("dom_HomeBanking", "renumbered"),
        ("dom_Fun", "renumbered"),
    ]
    bank = d.label("dom_HomeBanking")
    assert bank is not None and (bank.old_ssidref, bank.new_ssidref) == (0x00020002, 0x00030003)
    assert not bank.types_changed
    assert d.types == [] and d.conflict_sets == [] and d.blocking == []
    assert d.label("dom_BoincClient") is None  # unchanged


def test_version_two_of_the_example() -> None:
    d = diff_policies(load_xml(EXAMPLE_XML), load_xml(data_policy("example_v2")))
    types = {(t.part, t.name): (t.status, t.old, t.new) for t in d.types}
    assert types == {
        ("STE", "ste_Printer"): ("added", None, 4),
        ("STE", "ste_PersistentStorageA"): ("renumbered", 4, 5),
        ("STE", "ste_NetworkAdapter0"): ("renumbered", 5, 6),
    }
    status = {(x.name, x.kind): x.status for x in d.labels}
    assert status[("dom_Fun", LabelKind.VM)] == "removed"
    assert status[("res_Printer", LabelKind.RES)] == "added"
    assert status[("dom_NetworkDomain", LabelKind.VM)] == "changed"
    assert status[("dom_BoincClient", LabelKind.VM)] == "renumbered"
    assert ("dom_HomeBanking", LabelKind.VM) not in status
    net = d.label("dom_NetworkDomain")
    assert net is not None and net.renumbered
    assert "ste_DonatedCycles" in net.old_ste[0] and "ste_DonatedCycles" not in net.new_ste[0]
    [cs] = d.conflict_sets
    assert (cs.status, cs.title, cs.new_types) == (
        "changed",
        "Protection1",
        ("cw_Sensitive", "cw_Isolated", "cw_Distrusted"),
    )
    blocking = {(b.blockers, b.blocked, b.added) for b in d.blocking}
    assert blocking == {
        (("dom_HomeBanking",), ("dom_BoincClient",), True),
        (("dom_BoincClient",), ("dom_HomeBanking",), True),
    }
    text = "\n".join(d.format())
    assert "  - dom dom_Fun" in text
    assert "  ~ Protection1: +cw_Isolated" in text
    assert "  + dom_HomeBanking (running) now blocks dom_BoincClient" in text
    assert "ssidref 0x00040004 -> 0x00030003" in text
    doc = json.loads(json.dumps(d.as_dict()))
    assert doc["identical"] is False
    assert {x["name"] for x in doc["labels"] if x["status"] == "removed"} == {"dom_Fun"}


def test_conflict_sets_are_matched_by_content_then_name_then_overlap() -> None:
    cw = ["sys", "a", "b", "c", "d"]
    vms = [(t, [], [[t]]) for t in cw]
    old = analysed(Spec(cw=cw, conflict_sets=[("one", ["a", "b"]), ("two", ["c", "d"])], vms=vms))
    swapped = analysed(
        Spec(cw=cw, conflict_sets=[("two", ["c", "d"]), ("one", ["a", "b"])], vms=vms)
    )
    d = diff_policies(old, swapped)
    assert sorted((c.status, c.old_index, c.new_index) for c in d.conflict_sets) == [
        ("moved", 0, 1),
        ("moved", 1, 0),
    ]
    assert d.blocking == []
    renamed = analysed(Spec(cw=cw, conflict_sets=[("one", ["a", "c"]), ("x", ["b", "d"])], vms=vms))
    d = diff_policies(old, renamed)
    pairs = {(c.old_title, c.new_title, c.status) for c in d.conflict_sets}
    assert ("one", "one", "changed") in pairs  # same name
    assert ("two", "x", "changed") in pairs  # then the largest overlap
    unnamed = analysed(Spec(cw=cw, conflict_sets=[(None, ["a", "b", "d"])], vms=vms))
    d = diff_policies(old, unnamed)
    assert sorted(c.status for c in d.conflict_sets) == ["changed", "removed"]


def test_header_changes() -> None:
    a = analysed(Spec(name="p1", ste=["t"], vms=[("boot", [["t"]], [])]))
    b = analysed(Spec(name="p2", ste=["t"], cw=["c"], vms=[("boot", [["t"]], [["c"]])]))
    d = diff_policies(a, b)
    assert ("policy name", "p1", "p2") in d.header
    assert ("primary policy", "STE", "CHWALL") in d.header
    assert ("secondary policy", "NULL", "STE") in d.header
    assert d.types[0].status == "added" and d.types[0].part == "CHWALL"


@settings(max_examples=30, deadline=None)
@given(specs(), specs())
def test_diff_against_itself_is_empty_and_statuses_are_consistent(a: Spec, b: Spec) -> None:
    pa, pb = analysed(a), analysed(b)
    assert diff_policies(pa, pa).identical
    d = diff_policies(pa, pb)
    old_keys = {(lab.name, lab.kind) for lab in pa.labels}
    new_keys = {(lab.name, lab.kind) for lab in pb.labels}
    for x in d.labels:
        key = (x.name, x.kind)
        assert (x.status == "added") == (key not in old_keys)
        assert (x.status == "removed") == (key not in new_keys)
    listed = {(x.name, x.kind) for x in d.labels}
    assert old_keys ^ new_keys <= listed
