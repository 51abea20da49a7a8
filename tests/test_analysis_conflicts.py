"""The Chinese Wall graph (acm.analysis.conflicts) and the shared loader."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from acm.analysis.conflicts import build_conflicts
from acm.analysis.graphs import dot_id, policy_graph, to_dot
from acm.analysis.loader import from_compiled, load_xml
from acm.errors import PolicyError
from acm.source import LabelKind
from acm.ssidref import label_to_ssidref
from tests.conftest import EXAMPLE_XML, REPO
from tests.test_analysis_support import Spec, analysed, data_policy, specs

GOLDEN = REPO / "tests" / "golden"


def chwall_create_ok(running: list[tuple[int, ...]], sets: tuple[tuple[int, ...], ...]) -> bool:
    """enforcement.md section 2, literally: start each domain in turn on fresh
    counters; False as soon as one is denied."""
    aggregate: dict[int, int] = {}
    for types in running:
        if any(aggregate.get(t, 0) > 0 for t in types):
            return False
        for conflict in sets:
            if set(conflict) & set(types):
                for u in conflict:
                    if u not in types:
                        aggregate[u] = aggregate.get(u, 0) + 1
    return True


def test_example_banking_and_fun_block_each_other_and_boinc_blocks_nobody() -> None:
    policy = load_xml(EXAMPLE_XML)
    cg = build_conflicts(policy)
    bank, fun, boinc = (policy.find(n) for n in ("dom_HomeBanking", "dom_Fun", "dom_BoincClient"))
    assert cg.blocks(bank, fun) and cg.blocks(fun, bank)
    assert cg.blocked_by(boinc) == []
    assert cg.blockers_of(boinc) == []
    assert [cg.describe(r) for r in cg.reasons(bank, fun)] == ["Protection1: cw_Distrusted"]
    edges = {(u, v) for u, v in cg.label_graph().edges}
    assert edges == {("dom:dom_HomeBanking", "dom:dom_Fun"), ("dom:dom_Fun", "dom:dom_HomeBanking")}


def test_same_label_and_own_set_never_block() -> None:
    policy = load_xml(data_policy("one_way"))
    cg = build_conflicts(policy)
    x, both, y, x_too = (policy.find(n) for n in ("x_only", "both_xy", "y_only", "x_only_too"))
    assert not cg.blocks(x, x)
    assert not cg.blocks(x, x_too)  # one type set: one group
    assert cg.group(x) == cg.group(x_too)
    assert cg.blocked_by(both) == []  # its own types fill the set: it blocks nobody
    assert cg.blocks(x, both) and not cg.blocks(both, x)  # order-aware
    assert cg.blocks(x, y) and cg.blocks(y, x)


def test_labels_that_cannot_start_are_left_out_with_their_reason() -> None:
    policy = load_xml(data_policy("never_start"))
    cg = build_conflicts(policy)
    reasons = {lab.name: lab.problem for lab in cg.excluded}
    assert set(reasons) == {"no_cw", "twice"}
    assert "no Chinese Wall types" in (reasons["no_cw"] or "")
    assert "not unique" in (reasons["twice"] or "")
    graph = cg.export("labels")
    assert "dom:no_cw" not in graph
    assert {e["name"] for e in graph.graph["excluded"]} == {"no_cw", "twice"}


def test_loader_resolves_labels_like_xm() -> None:
    """Every usable label has the ssidref acm.ssidref gives it (Domain-0's is fixed)."""
    for path in [EXAMPLE_XML, *GOLDEN.glob("*-security_policy.xml"), data_policy("never_start")]:
        policy = load_xml(path)
        pmap = policy.compiled.map
        for lab in policy.labels:
            if lab.bootstrap:
                assert (lab.chwall_ssid or 1, lab.ste_ssid or 1) == (1, 1)
                continue
            kind = "dom" if lab.kind is LabelKind.VM else "res"
            if lab.usable:
                from acm.analysis.diff import ssidref_of

                assert ssidref_of(policy, lab) == label_to_ssidref(pmap, lab.name, kind)
            elif "not unique" in (lab.problem or ""):
                with pytest.raises(PolicyError, match="not unique"):
                    label_to_ssidref(pmap, lab.name, kind)


def test_find_label_names_and_prefixes() -> None:
    policy = load_xml(GOLDEN / "multi_group-security_policy.xml")
    with pytest.raises(PolicyError, match="both a VM and a resource label"):
        policy.find("boot")
    assert policy.find("dom:boot").kind is LabelKind.VM
    assert policy.find("res:boot").kind is LabelKind.RES
    assert policy.display(policy.find("res:boot")) == "res:boot"
    with pytest.raises(PolicyError, match="Label 'nobody' not found."):
        policy.find("nobody")


@settings(max_examples=60, deadline=None)
@given(specs(chwall_one_group=True))
def test_blocks_is_what_the_counters_decide(spec: Spec) -> None:
    """A blocks B exactly when starting B after A is denied by the counters."""
    policy = analysed(spec)
    cg = build_conflicts(policy)
    sets = policy.conflict_sets
    groups = cg.groups
    for a in groups:
        for b in groups:
            denied = not chwall_create_ok([a.types, b.types], sets)
            assert cg.graph.has_edge(a.index, b.index) == denied
    assert cg.label_edge_count() == cg.label_graph().number_of_edges()


def test_groups_level_and_auto_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = load_xml(data_policy("one_way"))
    cg = build_conflicts(policy)
    groups = cg.export("groups")
    assert groups.graph["level"] == "groups"
    assert set(groups.nodes) == {"cw:cw_sys", "cw:cw_x", "cw:cw_x+cw_y", "cw:cw_y"}
    assert groups.nodes["cw:cw_x"]["labels"] == ["x_only", "x_only_too"]
    assert cg.export("auto").graph["level"] == "labels"
    import acm.analysis.conflicts as conflicts

    monkeypatch.setattr(conflicts, "LABEL_EDGE_LIMIT", cg.label_edge_count() - 1)
    assert cg.export("auto").graph["level"] == "groups"


def test_node_link_json_round_trips_through_networkx() -> None:
    import networkx as nx

    export = policy_graph(load_xml(EXAMPLE_XML), "conflicts")
    doc = json.loads(export.format("json"))
    assert doc["directed"] is True
    assert doc["graph"]["kind"] == "conflicts"
    again = nx.node_link_graph(doc, edges="edges")
    assert set(again.edges) == set(export.graph.edges)


def test_dot_quotes_every_name() -> None:
    assert dot_id('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    spec = Spec(
        cw=['c"1', "c2"],
        conflict_sets=[("s", ['c"1', "c2"])],
        vms=[("boot", [], [["c2"]]), ('say"hi"', [], [['c"1']])],
    )
    dot = policy_graph(analysed(spec), "conflicts").dot()
    assert '"dom:say\\"hi\\""' in dot
    assert "peripheries" in dot  # the bootstrap label is marked


def test_to_dot_undirected_graph() -> None:
    import networkx as nx

    g = nx.Graph()
    g.add_edge("a", "b", types=["t1", "t2"])
    assert '"a" -- "b" [label="t1, t2"];' in to_dot(g, "g", edge_label="types")


def test_policy_without_chinese_wall_has_no_blocking() -> None:
    policy = load_xml(GOLDEN / "ste_only-security_policy.xml")
    cg = build_conflicts(policy)
    assert cg.graph.number_of_edges() == 0
    assert len(cg.groups) == 1


def test_unknown_level_or_kind_is_refused() -> None:
    policy = load_xml(EXAMPLE_XML)
    with pytest.raises(PolicyError, match="no level 'types'"):
        policy_graph(policy, "conflicts", "types")
    with pytest.raises(PolicyError, match="unknown graph kind"):
        policy_graph(policy, "nope")


def test_binary_and_map_give_the_same_view(tmp_path: object) -> None:
    from acm.analysis.loader import load_policy_file

    policy = load_xml(EXAMPLE_XML)
    from_files = load_policy_file(GOLDEN / "example.chwall_ste.client_v1.bin")
    assert from_files.labels == policy.labels
    assert from_compiled(policy.compiled).labels == policy.labels
