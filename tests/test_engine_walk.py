"""The Chinese Wall walk of a policy load (`Engine.chwall_walk`, Xen 3.0.4's
`chwall_init_state`) against an independent reading of Xen's loops over 0/1
matrices, and a load that keeps the running domains' ssidrefs against
creating the same domains one by one, in id order, under the new policy."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from acm.engine import ChwallCounters, Engine, RunningDomain, ViolationKind
from acm.model import BinaryPolicy, ChwallPolicy, PolicyCode, StePolicy
from tests.policygen import examples


def xen_init_state(
    policy: BinaryPolicy, domains: Sequence[tuple[int, int]]
) -> tuple[list[int], list[int], int | None]:
    """Xen's loop, cell by cell: (running_types, conflict_aggregate, the id
    of the domain where it stopped on a conflict, else None)."""
    cw = policy.chwall
    assert cw is not None
    n = cw.max_types
    ssid_cells = [[1 if t in row else 0 for t in range(n)] for row in cw.ssids]
    set_cells = [[1 if t in row else 0 for t in range(n)] for row in cw.conflict_sets]
    shift = 16 if policy.secondary is PolicyCode.CHWALL else 0
    running, aggregate = [0] * n, [0] * n
    for domid, ssidref in sorted(domains):
        cells = ssid_cells[(ssidref >> shift) & 0xFFFF]
        for i in range(n):
            running[i] += cells[i]
        for i in range(n):
            if aggregate[i] and cells[i]:
                return running, aggregate, domid
        for conflict in set_cells:
            if not any(conflict[j] and cells[j] for j in range(n)):
                continue
            for j in range(n):
                if conflict[j] and not cells[j]:
                    aggregate[j] += 1
    return running, aggregate, None


@st.composite
def policies(draw: st.DrawFn, ssid0_types: bool = True) -> BinaryPolicy:
    """Both parts, either one primary; SSID 0 may have CHWALL types (the
    bootstrap label can move the null entry)."""
    n = draw(st.integers(1, 6))
    type_sets = st.lists(st.integers(0, n - 1), max_size=n, unique=True).map(sorted)
    rows = draw(st.lists(type_sets, min_size=2, max_size=7))
    if not ssid0_types:
        rows[0] = []
    sets = draw(
        st.lists(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True), max_size=4)
    )
    cw = ChwallPolicy(n, tuple(map(tuple, rows)), tuple(tuple(sorted(s)) for s in sets))
    ste = StePolicy(1, ((),) + ((0,),) * (len(rows) - 1))
    cw_first = draw(st.booleans())
    primary, secondary = (
        (PolicyCode.CHWALL, PolicyCode.STE) if cw_first else (PolicyCode.STE, PolicyCode.CHWALL)
    )
    return BinaryPolicy("walk", primary, secondary, cw, ste)


def _ssidref(policy: BinaryPolicy, chwall_ssid: int, ste_ssid: int) -> int:
    if policy.primary is PolicyCode.CHWALL:
        return (ste_ssid << 16) | chwall_ssid
    return (chwall_ssid << 16) | ste_ssid


@st.composite
def running_sets(draw: st.DrawFn) -> tuple[BinaryPolicy, list[RunningDomain]]:
    policy = draw(policies())
    assert policy.chwall is not None
    top = policy.chwall.max_ssidrefs - 1
    ids = draw(st.lists(st.integers(0, 40), max_size=10, unique=True))
    doms = [RunningDomain(d, f"d{d}", _ssidref(policy, draw(st.integers(0, top)), 1)) for d in ids]
    return policy, doms


@settings(max_examples=examples(300), deadline=None)
@given(running_sets())
def test_walk_is_xens_chwall_init_state(case: tuple[BinaryPolicy, list[RunningDomain]]) -> None:
    policy, doms = case
    engine = Engine(policy)
    walk = engine.chwall_walk(doms)
    running, aggregate, stopped_at = xen_init_state(policy, [(d.domid, d.ssidref) for d in doms])
    if stopped_at is None:
        assert walk.conflicts == []
        assert walk.counters == ChwallCounters(running, aggregate)
    else:
        assert walk.conflicts[0].domid == stopped_at
    # every domain counted, whatever the order: the counters are the sum
    assert walk.walked == len(doms)
    assert walk.counters == engine.recompute_counters(d.ssidref for d in doms)
    result = engine.revalidate(doms)
    assert result.ok == (stopped_at is None)
    if result.ok:
        assert result.counters == walk.counters


def test_ssid0_counts_its_row_and_a_destroy_gives_it_back() -> None:
    cw = ChwallPolicy(3, ((1,), (0,), (2,)), ((1, 2),))
    policy = BinaryPolicy("z", PolicyCode.CHWALL, PolicyCode.STE, cw, StePolicy(1, ((), (0,))))
    engine = Engine(policy)
    doms = [RunningDomain(0, "Domain-0", 0x00010001), RunningDomain(3, "unlabeled", 0)]
    walk = engine.chwall_walk(doms)
    assert walk.counters == ChwallCounters([1, 1, 0], [0, 0, 1])
    assert xen_init_state(policy, [(d.domid, d.ssidref) for d in doms])[:2] == (
        [1, 1, 0],
        [0, 0, 1],
    )
    engine.apply_destroy(0, walk.counters)
    assert walk.counters == engine.recompute_counters([0x00010001])
    # the domain of SSID 2 conflicts with it, in the walk as in a create
    later = engine.chwall_walk([*doms, RunningDomain(5, "c", 0x00010002)])
    assert [(c.domid, c.types) for c in later.conflicts] == [(5, (2,))]


# ------------------------------------------------------------------ keep = create again


@st.composite
def kept_domains(draw: st.DrawFn) -> tuple[BinaryPolicy, list[RunningDomain]]:
    """Running domains with the (non-null) ssidref numbers an older policy
    gave them; some beyond the new policy's SSIDs in either half."""
    policy = draw(policies(ssid0_types=False))
    assert policy.chwall is not None and policy.ste is not None
    cw_top, ste_top = policy.chwall.max_ssidrefs, policy.ste.max_ssidrefs
    ids = draw(st.lists(st.integers(1, 40), max_size=9, unique=True))
    doms = [RunningDomain(0, "Domain-0", _ssidref(policy, 1, 1))]
    for d in ids:
        cw = draw(st.integers(1, cw_top))  # cw_top: one beyond
        ste = draw(st.sampled_from([1, 1, 1, ste_top]))
        doms.append(RunningDomain(d, f"d{d}", _ssidref(policy, cw, ste)))
    return policy, doms


@settings(max_examples=examples(300), deadline=None)
@given(kept_domains())
def test_keeping_ssidrefs_is_creating_them_again_in_id_order(
    case: tuple[BinaryPolicy, list[RunningDomain]],
) -> None:
    policy, doms = case
    engine = Engine(policy)
    result = engine.revalidate(doms)
    counters = engine.recompute_counters([doms[0].ssidref])  # Domain-0: no create hook
    first_denied = None
    for dom in sorted(doms[1:], key=lambda d: d.domid):
        decision = engine.check_create(dom.ssidref, counters.aggregate)
        if not decision.permitted:
            first_denied = dom.domid
            break
        engine.apply_create(dom.ssidref, counters)
    assert result.ok == (first_denied is None)
    if result.ok:
        assert result.counters == counters
    else:
        assert result.violations[0].domid == first_denied
        assert result.violations[0].kind in (ViolationKind.CHWALL, ViolationKind.SSID_RANGE)
