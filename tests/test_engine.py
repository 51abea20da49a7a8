"""The decision engine against enforcement.md: Chinese Wall counters and their
order-dependent cases, STE sharing, resources, the decision cache, and the
re-validation of a new policy."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acm.engine import (
    STE_CACHE_SIZE,
    ChwallCounters,
    Connection,
    CounterUnderflow,
    Engine,
    ResourceUse,
    RunningDomain,
    SharingHook,
    ViolationKind,
)
from acm.model import BinaryPolicy, ChwallPolicy, PolicyCode, StePolicy


def chwall_policy(
    ssids: Sequence[Sequence[int]], sets: Sequence[Sequence[int]], max_types: int
) -> BinaryPolicy:
    """CHWALL primary, STE secondary with one type shared by every SSID."""
    cw = ChwallPolicy(max_types, tuple(tuple(sorted(s)) for s in ssids), tuple(map(tuple, sets)))
    ste = StePolicy(1, ((),) + ((0,),) * (len(ssids) - 1))
    return BinaryPolicy("t", PolicyCode.CHWALL, PolicyCode.STE, cw, ste)


def ref(chwall_ssid: int, ste_ssid: int | None = None) -> int:
    return ((chwall_ssid if ste_ssid is None else ste_ssid) << 16) | chwall_ssid


class Host:
    """A tiny in-memory host over the engine (as the store keeps it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        assert engine.chwall is not None
        self.counters = ChwallCounters.zero(engine.chwall.max_types)
        self.running: dict[int, int] = {}  # domid -> ssidref
        self.next_id = 1

    def create(self, ssidref: int) -> int | None:
        decision = self.engine.check_create(ssidref, self.counters.aggregate)
        if not decision.permitted:
            return None
        self.engine.apply_create(ssidref, self.counters)
        domid = self.next_id
        self.next_id += 1
        self.running[domid] = ssidref
        return domid

    def destroy(self, domid: int) -> None:
        self.engine.apply_destroy(self.running.pop(domid), self.counters)


# ------------------------------------------------------------------ section 2, case by case

# types: 0 sys, 1 sensitive, 2 isolated, 3 distrusted; conflict set {1, 3}
EXAMPLE = chwall_policy([[], [0], [1], [3], [2], [1, 3]], [[1, 3]], 4)


def test_conflicting_labels_exclude_each_other_until_destroy() -> None:
    host = Host(Engine(EXAMPLE))
    bank = host.create(ref(2))
    assert bank is not None
    assert host.create(ref(3)) is None  # distrusted while sensitive runs
    assert host.counters.running == [0, 1, 0, 0]
    assert host.counters.aggregate == [0, 0, 0, 1]
    host.destroy(bank)
    assert host.counters == ChwallCounters.zero(4)
    assert host.create(ref(3)) is not None


def test_same_label_runs_twice() -> None:
    host = Host(Engine(EXAMPLE))
    assert host.create(ref(2)) is not None
    assert host.create(ref(2)) is not None
    assert host.counters.running[1] == 2 and host.counters.aggregate[3] == 2


def test_label_with_both_types_of_a_set_starts_and_order_matters() -> None:
    # SSID 5 holds both conflicting types itself: it still starts ...
    host = Host(Engine(EXAMPLE))
    both = host.create(ref(5))
    assert both is not None
    assert host.counters.aggregate == [0, 0, 0, 0]  # its own types are not counted
    # ... and afterwards a plain sensitive domain starts beside it,
    assert host.create(ref(2)) is not None
    # but in the other order the two-type label is refused.
    other = Host(Engine(EXAMPLE))
    assert other.create(ref(2)) is not None
    decision = other.engine.check_create(ref(5), other.counters.aggregate)
    assert not decision.permitted
    assert [c.type for c in decision.conflicts] == [3]
    assert decision.reasons == ("chwall_pre_domain_create: CHINESE WALL CONFLICT in type 03.",)


def test_type_in_two_conflict_sets_counts_twice() -> None:
    # type 0 is in {0,1} and {0,2}; a domain of type 1 and one of type 2
    policy = chwall_policy([[], [0], [1], [2], [1, 2]], [[0, 1], [0, 2], [1, 2, 3]], 4)
    host = Host(Engine(policy))
    a = host.create(ref(2))
    assert a is not None
    assert host.counters.aggregate == [1, 0, 1, 1]
    assert host.create(ref(3)) is None  # type 2 conflicts with running type 1
    b = host.create(ref(4))
    assert b is None
    host.destroy(a)
    both = host.create(ref(4))  # {1,2}: sets {0,1},{0,2},{1,2,3} -> 0 twice, 3 once
    assert both is not None
    assert host.counters.aggregate == [2, 0, 0, 1]
    host.destroy(both)
    assert host.counters == ChwallCounters.zero(4)


def test_unlabeled_and_out_of_range_are_denied() -> None:
    engine = Engine(EXAMPLE)
    zero = ChwallCounters.zero(4).aggregate
    unlabeled = engine.check_create(0, zero)
    assert not unlabeled.permitted
    assert unlabeled.reasons == (
        "chwall_pre_domain_create: ERROR CHWALL SSID is NOT SET but policy enforced.",
        "ste_pre_domain_create: ERROR STE SSID is NOT SET but policy enforced.",
    )
    beyond = engine.check_create(ref(9, 1), zero)
    assert beyond.reasons == ("chwall_pre_domain_create: ERROR chwall_ssidref > max(5).",)
    ste_beyond = engine.check_create(ref(1, 40), zero)
    assert ste_beyond.reasons == ("ste_pre_domain_create: ERROR ste_ssidref > max(5).",)


def test_destroy_never_goes_below_zero() -> None:
    engine = Engine(EXAMPLE)
    counters = ChwallCounters.zero(4)
    with pytest.raises(CounterUnderflow):
        engine.apply_destroy(ref(2), counters)
    assert counters == ChwallCounters.zero(4)


def test_blockers_come_from_the_callers_index() -> None:
    engine = Engine(EXAMPLE)
    host = Host(engine)
    bank = host.create(ref(2))
    host.create(ref(1))  # a system domain: not a blocker
    decision = engine.check_create(ref(3), host.counters.aggregate)
    asked: list[list[int]] = []

    def lookup(ssids: Sequence[int]) -> list[tuple[int, str]]:
        asked.append(list(ssids))
        return [(d, f"d{d}") for d, r in host.running.items() if (r & 0xFFFF) in ssids]

    explained = engine.explain(decision, lookup)
    assert asked == [[2]]  # SSIDs with type 1 (sensitive) but without type 3
    assert [(b.domid, b.name) for b in explained.conflicts[0].blockers] == [(bank, f"d{bank}")]
    assert explained.conflicts[0].conflict_sets == (0,)


def test_bootstrap_ssidref_and_halves() -> None:
    engine = Engine(EXAMPLE)
    assert engine.bootstrap_ssidref() == 0x00010001
    assert engine.chwall_half == 0 and engine.ste_half == 1
    ste_only = BinaryPolicy("s", PolicyCode.STE, PolicyCode.NULL, None, StePolicy(1, ((), (0,))))
    e2 = Engine(ste_only)
    assert e2.bootstrap_ssidref() == 0x00000001
    assert e2.ste_ssid(0x00000001) == 1 and e2.chwall_ssid(1) is None
    assert e2.check_create(1, []).permitted
    assert not e2.check_create(0, []).permitted


# ------------------------------------------------------------------ property: counters


def _oracle_denied(engine: Engine, running: Sequence[int], ssidref: int) -> bool:
    """Independent of the counters: is there a running domain D and a conflict
    set C with t in cw(new) and in C, C meeting cw(D), t not in cw(D)?"""
    assert engine.chwall is not None
    new = set(engine.chwall_types(ssidref))
    for other in running:
        theirs = set(engine.chwall_types(other))
        for c in engine.chwall.conflict_sets:
            members = set(c)
            if members & theirs and any(t in members and t not in theirs for t in new):
                return True
    return False


@st.composite
def policies_and_ops(draw: st.DrawFn) -> tuple[BinaryPolicy, list[tuple[str, int]]]:
    types = draw(st.integers(2, 6))
    type_sets = st.lists(st.integers(0, types - 1), min_size=1, max_size=types, unique=True)
    ssids = [[]] + draw(st.lists(type_sets, min_size=1, max_size=6))
    sets = draw(
        st.lists(
            st.lists(st.integers(0, types - 1), min_size=2, max_size=types, unique=True), max_size=4
        )
    )
    policy = chwall_policy(ssids, [sorted(s) for s in sets], types)
    ops = draw(
        st.lists(st.tuples(st.sampled_from(["create", "destroy"]), st.integers(0, 50)), max_size=60)
    )
    return policy, ops


@settings(max_examples=150, deadline=None)
@given(policies_and_ops())
def test_counters_equal_recomputation_after_any_sequence(
    case: tuple[BinaryPolicy, list[tuple[str, int]]],
) -> None:
    policy, ops = case
    engine = Engine(policy)
    host = Host(engine)
    n_ssids = len(policy.chwall.ssids)  # type: ignore[union-attr]
    for op, arg in ops:
        if op == "create":
            ssidref = ref(1 + arg % (n_ssids - 1))
            expect_denied = _oracle_denied(engine, list(host.running.values()), ssidref)
            got = host.create(ssidref)
            assert (got is None) == expect_denied
        elif host.running:
            victims = sorted(host.running)
            host.destroy(victims[arg % len(victims)])
        assert host.counters == engine.recompute_counters(host.running.values())
        assert min(host.counters.running + host.counters.aggregate, default=0) >= 0


# ------------------------------------------------------------------ STE

# STE types: 0 a, 1 b, 2 c. SSIDs: 1 {a,b,c} (dom0), 2 {a}, 3 {b}, 4 res {a}, 5 res {c}
STE_POLICY = BinaryPolicy(
    "s",
    PolicyCode.CHWALL,
    PolicyCode.STE,
    ChwallPolicy(1, ((), (0,), (0,), (0,)), ()),
    StePolicy(3, ((), (0, 1, 2), (0,), (1,), (0,), (2,))),
)


def test_sharing_needs_a_common_type() -> None:
    engine = Engine(STE_POLICY)
    assert engine.check_share(ref(2, 2), ref(1, 1)).permitted
    denied = engine.check_share(ref(2, 2), ref(3, 3))
    assert not denied.permitted and denied.common_types == ()
    assert engine.common(ref(1, 1), ref(3, 3))


def test_resource_messages() -> None:
    engine = Engine(STE_POLICY)
    dom = ref(2, 2)
    assert engine.check_resource(dom, "phy:/dev/hda1", "res_A", 4).permitted
    not_allowed = engine.check_resource(dom, "phy:/dev/hda2", "res_C", 5)
    assert not_allowed.message == (
        "Permission denied for resource 'phy:/dev/hda2' because label 'res_C' is not allowed"
    )
    unlabeled = engine.check_resource(dom, "file:/x.img", None, 0)
    assert unlabeled.message == "Resource 'file:/x.img' is not labeled"


def test_sharing_hook_cache_as_xen() -> None:
    engine = Engine(STE_POLICY)
    cache: tuple[int | None, ...] = (None,) * STE_CACHE_SIZE
    first = engine.sharing_hook(SharingHook.EVTCHN, ref(1, 1), cache, 5, ref(2, 2))
    assert first.permitted and not first.cache_hit and first.cache[0] == 5
    again = engine.sharing_hook(SharingHook.EVTCHN, ref(1, 1), first.cache, 5, ref(2, 2))
    assert again.permitted and again.cache_hit and again.cache == first.cache
    denied = engine.sharing_hook(SharingHook.GNTTAB, ref(2, 2), (None,) * 8, 7, ref(3, 3))
    assert not denied.permitted and denied.cache == (None,) * 8  # denials are never cached
    full = tuple(range(100, 108))
    ninth = engine.sharing_hook(SharingHook.EVTCHN, ref(1, 1), full, 9, ref(2, 2))
    assert ninth.permitted and ninth.cache_full and ninth.cache == full


# ------------------------------------------------------------------ section 5


def test_revalidation_lists_every_violation() -> None:
    engine = Engine(EXAMPLE)
    doms = [
        RunningDomain(0, "Domain-0", ref(1)),
        RunningDomain(1, "bank", ref(2)),
        RunningDomain(2, "fun", ref(3)),
        RunningDomain(3, "bank2", ref(2)),
        RunningDomain(4, "ghost", ref(9, 1)),
    ]
    result = engine.revalidate(doms)
    kinds = [(v.kind, v.domid) for v in result.violations]
    assert (ViolationKind.CHWALL, 2) in kinds  # fun after bank
    assert (ViolationKind.CHWALL, 3) in kinds  # bank2 after fun
    assert (ViolationKind.SSID_RANGE, 4) in kinds
    assert not result.ok and result.counters is None


def test_revalidation_walks_in_id_order() -> None:
    engine = Engine(EXAMPLE)
    # fun has the lower id, so it is the one that "started first"
    result = engine.revalidate([RunningDomain(2, "bank", ref(2)), RunningDomain(1, "fun", ref(3))])
    assert [(v.domid, v.types) for v in result.violations] == [(2, (1,))]


def test_revalidation_of_sharing_and_resources() -> None:
    engine = Engine(STE_POLICY)
    doms = [
        RunningDomain(0, "Domain-0", ref(1, 1)),
        RunningDomain(1, "a", ref(2, 2)),
        RunningDomain(2, "b", ref(3, 3)),
    ]
    conns = [Connection(1, 0, "vbd sda1"), Connection(1, 2, "vif eth0")]
    uses = [
        ResourceUse(1, "phy:/dev/hda1", "res_A", 4),
        ResourceUse(2, "phy:/dev/hda1", "res_A", 4),
    ]
    result = engine.revalidate(doms, conns, uses)
    assert [(v.kind, v.domid) for v in result.violations] == [
        (ViolationKind.SHARING, 1),
        (ViolationKind.RESOURCE, 2),
    ]
    clean = engine.revalidate(doms, conns[:1], uses[:1])
    assert clean.ok and clean.counters == engine.recompute_counters(d.ssidref for d in doms)
