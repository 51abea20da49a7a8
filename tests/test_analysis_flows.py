"""The STE flow graph and the paths data can take (acm.analysis.flows)."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import acm.analysis.flows as flows_module
from acm.analysis.flows import build_flows, find_flows
from acm.analysis.loader import load_xml
from acm.errors import PolicyError
from tests.conftest import EXAMPLE_XML, REPO
from tests.test_analysis_support import Spec, analysed, data_policy, specs

GOLDEN = REPO / "tests" / "golden"


def test_banking_to_fun_goes_through_the_driver_domains_or_resources() -> None:
    policy = load_xml(EXAMPLE_XML)
    res = find_flows(policy, "dom_HomeBanking", "dom_Fun", max_hops=3, limit=100)
    assert res.complete and res.shortest == 2
    assert [p.hops for p in res.paths] == sorted(p.hops for p in res.paths)  # shortest first
    two = [p for p in res.paths if p.hops == 2]
    assert {p.labels[1].name for p in two} == {
        "dom_SystemManagement",
        "dom_StorageDomain",
        "dom_NetworkDomain",
    }
    assert all(p.types == (("ste_PersonalFinances",), ("ste_InternetInsecure",)) for p in two)
    through = {lab.name for p in res.paths for lab in p.labels[1:-1]}
    assert "res_LogicalDiskPartition1(hda1)" in through  # a shared disk carries data too
    assert "dom_BoincClient" not in {p.labels[1].name for p in two}
    text = "\n".join(res.format())
    assert (
        "--[ste_PersonalFinances]--> dom_StorageDomain --[ste_InternetInsecure]--> dom_Fun" in text
    )


def test_limit_marks_the_listing_incomplete() -> None:
    policy = load_xml(EXAMPLE_XML)
    res = find_flows(policy, "dom_HomeBanking", "dom_Fun", max_hops=3, limit=2)
    assert len(res.paths) == 2 and not res.complete
    assert "not every path is listed" in res.format()[-1]
    exact = find_flows(policy, "dom_HomeBanking", "dom_Fun", max_hops=2, limit=3)
    assert len(exact.paths) == 3 and exact.complete


def test_no_path_and_too_few_hops() -> None:
    spec = Spec(
        ste=["a", "b", "c"],
        vms=[("sys", [["a"]], []), ("left", [["b"]], []), ("right", [["c"]], [])],
        res=[("disk", [["b", "a"]])],
    )
    policy = analysed(spec)
    none = find_flows(policy, "left", "right")
    assert none.shortest is None and none.paths == []
    assert "none" in none.format()[0]
    far = find_flows(policy, "left", "sys", max_hops=1)
    assert far.shortest == 2 and far.paths == []
    assert "raise --max-hops" in far.format()[0]
    assert find_flows(policy, "left", "res:disk").paths[0].hops == 1


def test_refusals() -> None:
    with pytest.raises(PolicyError, match="no Simple Type Enforcement part"):
        find_flows(load_xml(GOLDEN / "chwall_only-security_policy.xml"), "alpha", "mgmt")
    policy = load_xml(EXAMPLE_XML)
    with pytest.raises(PolicyError, match="same label"):
        find_flows(policy, "dom_Fun", "dom_Fun")
    never = load_xml(data_policy("never_start"))
    with pytest.raises(PolicyError, match="takes part in no flow"):
        find_flows(never, "twice", "sys")


def test_flow_graph_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    fg = build_flows(load_xml(EXAMPLE_XML))
    labels = fg.export("labels")
    assert labels.graph["level"] == "labels" and not labels.is_directed()
    assert labels.edges["dom:dom_HomeBanking", "res:res_SecurityToken"]["types"] == [
        "ste_PersonalFinances"
    ]
    assert not labels.has_edge("dom:dom_HomeBanking", "dom:dom_Fun")
    types = fg.export("types")
    assert types.has_edge("dom:dom_Fun", "ste:ste_InternetInsecure")
    assert nx.is_bipartite(types)
    monkeypatch.setattr(flows_module, "LABEL_EDGE_LIMIT", 1)
    assert fg.export("auto").graph["level"] == "types"


# Many generated policies have fewer than two labels in the sharing graph and
# are skipped (assume): expected, so the filtering health check, which failed
# the suite at random, is off for this test.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(specs(with_ste=True), st.data())
def test_paths_are_the_simple_paths_of_the_sharing_graph(spec: Spec, data: st.DataObject) -> None:
    policy = analysed(spec)
    fg = build_flows(policy)
    graph = fg.export("labels")
    nodes = sorted(graph.nodes)
    assume(len(nodes) >= 2)
    source, target = data.draw(
        st.lists(st.sampled_from(nodes), min_size=2, max_size=2, unique=True)
    )
    max_hops = data.draw(st.integers(1, 4))
    res = fg.flows(policy.label_by_key(source), policy.label_by_key(target), max_hops, 10_000)
    want = {tuple(p) for p in nx.all_simple_paths(graph, source, target, cutoff=max_hops)}
    got = [tuple(lab.key for lab in p.labels) for p in res.paths]
    assert set(got) == want and len(got) == len(want)
    assert [len(p) for p in got] == sorted(len(p) for p in got)
    for path in res.paths:
        for a, b, shared in zip(path.labels[:-1], path.labels[1:], path.types, strict=True):
            assert set(shared) == set(policy.ste_names(a.ste)) & set(policy.ste_names(b.ste))
    if nx.has_path(graph, source, target):
        assert res.shortest == nx.shortest_path_length(graph, source, target)
    else:
        assert res.shortest is None
