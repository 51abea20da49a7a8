"""Which labels can run together (acm.analysis.coexist), checked against the
Chinese Wall counters of enforcement.md section 2 run literally."""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acm.analysis.coexist as coexist_module
from acm.analysis.coexist import CoexistCheck, CoexistSets, check_together, coexist, maximal_sets
from acm.analysis.conflicts import build_conflicts
from acm.analysis.loader import AnalysisPolicy, load_xml
from acm.errors import PolicyError
from acm.source import LabelKind
from acm.ssidref import label_to_ssidref
from tests.conftest import EXAMPLE_XML
from tests.test_analysis_conflicts import chwall_create_ok
from tests.test_analysis_support import Spec, analysed, data_policy, specs


def names(labels: list[object]) -> list[str]:
    return [lab.name for lab in labels]  # type: ignore[attr-defined]


def test_example_maximal_sets() -> None:
    res = coexist(load_xml(EXAMPLE_XML))
    assert isinstance(res, CoexistSets)
    assert res.total == 2
    assert res.never == []
    common = ["dom_SystemManagement", "dom_BoincClient", "dom_StorageDomain", "dom_NetworkDomain"]
    assert names(res.always) == common
    found = sorted(sorted(names(s)) for s in res.sets)
    assert found == sorted([sorted([*common, "dom_HomeBanking"]), sorted([*common, "dom_Fun"])])
    text = "\n".join(res.format())
    assert "set 1 adds: dom_HomeBanking" in text


def test_example_check_yes_and_no() -> None:
    policy = load_xml(EXAMPLE_XML)
    yes = coexist(policy, ["dom_Fun", "dom_BoincClient", "dom_Fun"])
    assert isinstance(yes, CoexistCheck) and yes.can
    assert names(yes.labels) == ["dom_Fun", "dom_BoincClient"]
    no = coexist(policy, ["dom_HomeBanking", "dom_Fun"])
    assert isinstance(no, CoexistCheck) and not no.can
    pairs = {(b.blocker.name, b.blocked.name) for b in no.cycle}
    assert pairs == {("dom_HomeBanking", "dom_Fun"), ("dom_Fun", "dom_HomeBanking")}
    assert no.as_dict()["can_run_together"] is False
    assert no.as_dict()["start_order"] is None


def test_one_way_blocking_gives_a_start_order() -> None:
    policy = load_xml(data_policy("one_way"))
    res = coexist(policy, ["x_only", "both_xy", "x_only_too"])
    assert isinstance(res, CoexistCheck) and res.can
    # x_only blocks both_xy but not the other way round: both_xy starts first.
    assert names(res.order) == ["both_xy", "x_only", "x_only_too"]
    sets = coexist(policy, limit=10)
    assert isinstance(sets, CoexistSets)
    assert sorted(sorted(names(s)) for s in sets.sets) == [
        ["both_xy", "sys", "x_only", "x_only_too"],
        ["both_xy", "sys", "y_only"],
    ]


def test_labels_that_never_start_are_listed_separately() -> None:
    policy = load_xml(data_policy("never_start"))
    res = coexist(policy)
    assert isinstance(res, CoexistSets)
    reasons = {n.label.name: n.reason for n in res.never}
    assert set(reasons) == {"no_cw", "twice", "rival"}
    assert "blocked by Domain-0" in reasons["rival"] and "host: cw_rival" in reasons["rival"]
    assert [sorted(names(s)) for s in res.sets] == [["free", "sys"]]
    check = coexist(policy, ["free", "no_cw"])
    assert isinstance(check, CoexistCheck) and not check.can
    assert names([n.label for n in check.never]) == ["no_cw"]
    assert "can never start" in "\n".join(check.format())


def test_limit_and_count() -> None:
    # Three mutually exclusive pairs: 2 x 2 x 2 = 8 maximal sets.
    cw = ["sys", "a1", "a2", "b1", "b2", "c1", "c2"]
    spec = Spec(
        cw=cw,
        conflict_sets=[(None, ["a1", "a2"]), (None, ["b1", "b2"]), (None, ["c1", "c2"])],
        vms=[(t, [], [[t]]) for t in cw],
    )
    res = coexist(analysed(spec), limit=3)
    assert isinstance(res, CoexistSets)
    assert (res.total, len(res.sets)) == (8, 3)
    assert "8, showing 3" in res.format()[0]
    assert len(coexist(analysed(spec), limit=0).sets) == 0  # type: ignore[union-attr]


def test_count_beyond_the_cap_is_a_lower_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coexist_module, "PER_PART_CAP", 3)
    cw = ["sys", "a", "b", "c", "d"]
    spec = Spec(
        cw=cw, conflict_sets=[(None, ["a", "b", "c", "d"])], vms=[(t, [], [[t]]) for t in cw]
    )
    res = coexist(analysed(spec))
    assert isinstance(res, CoexistSets)
    assert res.total is None and res.at_least == 3
    assert "at least 3" in res.format()[0]


def test_resource_label_is_not_a_vm_label() -> None:
    with pytest.raises(PolicyError, match="not found"):
        coexist(load_xml(EXAMPLE_XML), ["res_EthernetCard"])


# ---------------------------------------------------------------- against the counters


def oracle(policy: AnalysisPolicy) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Each VM label xm can give a domain -> its Chinese Wall types, found through
    acm.ssidref (not the analysis loader); and Domain-0's types (SSID 1)."""
    binary, pmap = policy.compiled.binary, policy.compiled.map
    assert binary.chwall is not None
    boot = binary.chwall.ssids[1]
    found = {}
    for name in {e.name for e in pmap.chwall.labels[1:] if e.kind.value == "VM"}:  # type: ignore[union-attr]
        if name == policy.bootstrap:
            found[name] = boot
            continue
        try:
            ssidref = label_to_ssidref(pmap, name, "dom")
        except PolicyError:
            continue
        found[name] = binary.chwall.ssids[ssidref & 0xFFFF]
    return found, boot


def _may_start_beside(
    types: tuple[int, ...], running: list[tuple[int, ...]], sets: tuple[tuple[int, ...], ...]
) -> bool:
    """Section 2 step 2 for one create: the conflict aggregate of the running
    domains (step 3 summed over them, whatever order they started in) must be
    0 for every type of the new domain."""
    aggregate: dict[int, int] = {}
    for own in running:
        for conflict in sets:
            if set(conflict) & set(own):
                for u in conflict:
                    if u not in own:
                        aggregate[u] = aggregate.get(u, 0) + 1
    return all(aggregate.get(t, 0) == 0 for t in types)


def feasible_sets(
    labels: dict[str, tuple[int, ...]], boot: tuple[int, ...], sets: tuple[tuple[int, ...], ...]
) -> set[frozenset[str]]:
    """Every set of labels that can all run beside Domain-0. The counters depend
    only on which domains run, so a set can run when one of its labels can
    start beside the others running."""
    ok: set[frozenset[str]] = {frozenset()}
    names = sorted(labels)
    for size in range(1, len(names) + 1):
        for combo in combinations(names, size):
            s = frozenset(combo)
            for x in combo:
                rest = s - {x}
                running = [boot] + [labels[n] for n in sorted(rest)]
                if rest in ok and _may_start_beside(labels[x], running, sets):
                    ok.add(s)
                    break
    return ok


@settings(max_examples=60, deadline=None)
@given(specs(chwall_one_group=True), st.data())
def test_coexist_agrees_with_the_counters(spec: Spec, data: st.DataObject) -> None:
    policy = analysed(spec)
    labels, boot = oracle(policy)
    sets = policy.conflict_sets
    ok = feasible_sets(labels, boot, sets)
    maximal = {s for s in ok if not any(s < t for t in ok)}
    cg = build_conflicts(policy)
    res = maximal_sets(cg, limit=10_000)
    assert res.total == len(maximal)
    got = {frozenset(names(s)) for s in res.sets}
    assert got == maximal
    never = {n.label.name for n in res.never}
    assert never == {lab.name for lab in policy.vm_labels if frozenset([lab.name]) not in ok}

    asked = data.draw(st.lists(st.sampled_from(sorted(labels)), min_size=1, max_size=4))
    check = check_together(cg, [policy.find(n, LabelKind.VM) for n in asked])
    assert check.can == (frozenset(asked) in ok)
    if check.can:
        assert sorted(set(names(check.order))) == sorted(set(asked))
        assert chwall_create_ok([boot] + [labels[lab.name] for lab in check.order], sets)


def test_one_way_search_matches_brute_force_on_a_directed_cycle() -> None:
    """A part where blocking is one-way everywhere (a 4-cycle plus a chord)."""
    g = nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)])
    found, complete = coexist_module._part_choices({u: set(g.successors(u)) for u in g})
    assert complete

    def acyclic(s: frozenset[int]) -> bool:
        return nx.is_directed_acyclic_graph(g.subgraph(s))

    subsets = [frozenset(c) for k in range(5) for c in combinations(range(4), k)]
    good = [s for s in subsets if acyclic(s)]
    maximal = {s for s in good if not any(s < t for t in good)}
    assert set(found) == maximal


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
        )
    )
)
def test_strong_parts_are_networkx_strongly_connected_components(
    graph: tuple[int, list[tuple[int, int]]],
) -> None:
    n, edges = graph
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((u, v) for u, v in edges if u != v)  # the relation is never reflexive
    succ = {u: list(g.successors(u)) for u in g}
    got = sorted(map(sorted, coexist_module.strong_parts(succ)))
    assert got == sorted(map(sorted, nx.strongly_connected_components(g)))


def test_strong_parts_of_a_long_cycle_need_no_deep_recursion() -> None:
    n = 20_000  # deeper than the interpreter's recursion limit
    parts = coexist_module.strong_parts({v: [(v + 1) % n] for v in range(n)})
    assert [len(p) for p in parts] == [n]
    chain = coexist_module.strong_parts({v: [v + 1] if v + 1 < n else [] for v in range(n)})
    assert len(chain) == n
