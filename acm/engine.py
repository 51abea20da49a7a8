"""The decision engine: what Xen 3.0.4's ACM hooks decided, as values.

Built from the loaded binary policy (`BinaryPolicy`, the `.bin`), never from
the XML. Pure: no I/O, no host state of its own; the caller passes the
counters and the running domains it keeps (enforcement.md sections 2-5).

Costs: a create decision looks only at the types of the new domain's label
(`check_create`, O(types of the label)); applying it touches those types and
the conflict sets they are in. Explanations of a denial (which running
domains block) go through a lookup the caller provides (its own index), so
they cost O(blockers), never a scan of every domain.

Type and SSID numbers are ints; names come from the `.map`
(`PolicyNames`) and are used for explanations only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from acm.model import BinaryPolicy, PolicyCode, PolicyMap

STE_CACHE_SIZE = 8  # ACM_TE_CACHE_SIZE
NULL_SSID = 0  # ACM_DEFAULT_LOCAL_SSID: "no label"


# ---------------------------------------------------------------- names


@dataclass(frozen=True)
class PolicyNames:
    """Names for explanations: type names per part, label names per SSID,
    and the conflict sets' names (from the XML when it was at hand)."""

    chwall_types: tuple[str, ...] = ()
    ste_types: tuple[str, ...] = ()
    chwall_labels: tuple[str, ...] = ()
    ste_labels: tuple[str, ...] = ()
    conflict_sets: tuple[str | None, ...] = ()

    @classmethod
    def from_map(
        cls, pmap: PolicyMap | None, conflict_sets: Sequence[str | None] = ()
    ) -> PolicyNames:
        if pmap is None:
            return cls(conflict_sets=tuple(conflict_sets))
        cw, ste = pmap.chwall, pmap.ste
        return cls(
            chwall_types=cw.types if cw else (),
            ste_types=ste.types if ste else (),
            chwall_labels=tuple(e.name for e in cw.labels) if cw else (),
            ste_labels=tuple(e.name for e in ste.labels) if ste else (),
            conflict_sets=tuple(conflict_sets),
        )

    def chwall_type(self, t: int) -> str:
        return self.chwall_types[t] if t < len(self.chwall_types) else f"type {t:02x}"

    def ste_type(self, t: int) -> str:
        return self.ste_types[t] if t < len(self.ste_types) else f"type {t:02x}"

    def conflict_set(self, c: int) -> str:
        if c < len(self.conflict_sets) and self.conflict_sets[c]:
            return str(self.conflict_sets[c])
        return f"c-set {c:x}"


# ---------------------------------------------------------------- decisions


class Check(StrEnum):
    CREATE = "create"
    SHARE = "share"
    RESOURCE = "resource"


@dataclass(frozen=True)
class Blocker:
    """A running domain that raised a conflict-aggregate counter."""

    domid: int
    name: str


@dataclass(frozen=True)
class ChwallConflict:
    """Type `type` of the new domain has `conflict_aggregate[type] > 0`:
    it shares a conflict set (`conflict_sets`) with types that run now."""

    type: int
    aggregate: int
    conflict_sets: tuple[int, ...]
    blocking_types: tuple[int, ...]  # the other types of those sets
    blockers: tuple[Blocker, ...] = ()


@dataclass(frozen=True)
class CreateDecision:
    """Domain create (sections 2 and 3): permitted, or denied with reasons."""

    ssidref: int
    permitted: bool
    chwall_ssid: int | None
    ste_ssid: int | None
    chwall_types: tuple[int, ...] = ()
    reasons: tuple[str, ...] = ()  # Xen's hook messages, one per failed check
    conflicts: tuple[ChwallConflict, ...] = ()

    check = Check.CREATE


@dataclass(frozen=True)
class ShareDecision:
    """Inter-domain sharing (event channel / grant table, section 3)."""

    permitted: bool
    subject_ssidref: int
    object_ssidref: int
    subject_types: tuple[int, ...]
    object_types: tuple[int, ...]
    common_types: tuple[int, ...]
    enforced: bool = True  # False: the policy has no STE part

    check = Check.SHARE


@dataclass(frozen=True)
class ResourceDecision:
    """A domain's access to a labeled resource (section 3)."""

    permitted: bool
    resource: str
    label: str | None  # the resource's label (None: unlabeled)
    domain_ssidref: int
    resource_ste_ssid: int
    domain_types: tuple[int, ...]
    resource_types: tuple[int, ...]
    common_types: tuple[int, ...]
    message: str  # "" when permitted; Xen's message otherwise
    enforced: bool = True

    check = Check.RESOURCE


class SharingHook(StrEnum):
    EVTCHN = "event_channel"
    GNTTAB = "grant_table"


@dataclass(frozen=True)
class HookResult:
    """One pass through an STE sharing hook, with its cache effect."""

    hook: SharingHook
    permitted: bool
    cache_hit: bool
    cache: tuple[int | None, ...]  # the subject's cache afterwards
    cache_full: bool = False  # a permitted result that found no free slot


# ---------------------------------------------------------------- counters


@dataclass
class ChwallCounters:
    """running_types[t] and conflict_aggregate[t], one entry per CHWALL type."""

    running: list[int]
    aggregate: list[int]

    @classmethod
    def zero(cls, max_types: int) -> ChwallCounters:
        return cls([0] * max_types, [0] * max_types)

    def copy(self) -> ChwallCounters:
        return ChwallCounters(list(self.running), list(self.aggregate))


class CounterUnderflow(Exception):
    """A destroy would take a counter below zero: the state is inconsistent."""


# ---------------------------------------------------------------- revalidation


class ViolationKind(StrEnum):
    SSID_RANGE = "ssid-range"
    CHWALL = "chwall"
    SHARING = "sharing"
    RESOURCE = "resource"
    LABEL = "label"


@dataclass(frozen=True)
class Violation:
    """One way the running state breaks a new policy (section 5)."""

    kind: ViolationKind
    domid: int
    name: str
    message: str
    types: tuple[int, ...] = ()
    conflict_sets: tuple[int, ...] = ()
    other: str = ""  # the other domain or the resource involved


@dataclass(frozen=True)
class RunningDomain:
    domid: int
    name: str
    ssidref: int


@dataclass(frozen=True)
class Connection:
    """A split-driver device: frontend domain <-> backend domain."""

    frontend: int
    backend: int
    device: str  # e.g. "vbd sdb1" or "vif eth0", for messages


@dataclass(frozen=True)
class ResourceUse:
    """A labeled resource a running domain uses, with its STE SSID under
    the policy being checked (0: no label there)."""

    domid: int
    resource: str
    label: str | None
    ste_ssid: int


@dataclass(frozen=True)
class WalkConflict:
    """A running domain the Chinese Wall walk found in conflict: these of
    its types had `conflict_aggregate > 0` from the domains before it."""

    domid: int
    name: str
    types: tuple[int, ...]
    conflict_sets: tuple[int, ...]


@dataclass
class ChwallWalk:
    """Xen's `chwall_init_state` over the running domains under a policy:
    the counters it leaves (every walked domain counted, also one in
    conflict) and every conflict it meets (Xen stopped at the first)."""

    counters: ChwallCounters
    conflicts: list[WalkConflict] = field(default_factory=list)
    walked: int = 0  # domains counted (a CHWALL SSID beyond the matrix is not)


@dataclass
class RevalidationResult:
    violations: list[Violation] = field(default_factory=list)
    counters: ChwallCounters | None = None  # the fresh counters, when no violation

    @property
    def ok(self) -> bool:
        return not self.violations


# ---------------------------------------------------------------- the engine


class Engine:
    """Decisions of one binary policy."""

    def __init__(self, policy: BinaryPolicy, names: PolicyNames | None = None) -> None:
        self.policy = policy
        self.names = names or PolicyNames()
        self.chwall = policy.chwall
        self.ste = policy.ste
        # which half of an ssidref belongs to which part
        self._chwall_shift = self._shift(PolicyCode.CHWALL)
        self._ste_shift = self._shift(PolicyCode.STE)
        cw = self.chwall
        self._sets_of_type: list[list[int]] = []
        if cw is not None:
            self._sets_of_type = [[] for _ in range(cw.max_types)]
            for c, members in enumerate(cw.conflict_sets):
                for t in members:
                    self._sets_of_type[t].append(c)
        self._agg_delta: dict[int, tuple[int, ...]] = {}
        self._ste_masks: dict[int, int] = {}
        self._chwall_ssids_by_type: list[list[int]] | None = None

    def _shift(self, code: PolicyCode) -> int | None:
        if self.policy.primary is code:
            return 0
        if self.policy.secondary is code:
            return 16
        return None

    # ------------------------------------------------------------ ssidrefs

    @property
    def has_chwall(self) -> bool:
        return self.chwall is not None

    @property
    def has_ste(self) -> bool:
        return self.ste is not None

    @property
    def chwall_half(self) -> int | None:
        """0 when the CHWALL SSID is the low half of an ssidref, 1 the high."""
        return None if self._chwall_shift is None else self._chwall_shift // 16

    @property
    def ste_half(self) -> int | None:
        return None if self._ste_shift is None else self._ste_shift // 16

    def chwall_ssid(self, ssidref: int) -> int | None:
        return None if self._chwall_shift is None else (ssidref >> self._chwall_shift) & 0xFFFF

    def ste_ssid(self, ssidref: int) -> int | None:
        return None if self._ste_shift is None else (ssidref >> self._ste_shift) & 0xFFFF

    def bootstrap_ssidref(self) -> int:
        """Domain-0's ssidref: SSID 1 in each part present (0x00010001)."""
        ref = 1
        if self.policy.secondary is not PolicyCode.NULL:
            ref |= 1 << 16
        return ref

    def ssidref_of(self, chwall_ssid: int | None, ste_ssid: int | None) -> int:
        ref = 0
        if self._chwall_shift is not None and chwall_ssid is not None:
            ref |= (chwall_ssid & 0xFFFF) << self._chwall_shift
        if self._ste_shift is not None and ste_ssid is not None:
            ref |= (ste_ssid & 0xFFFF) << self._ste_shift
        return ref

    def chwall_types(self, ssidref: int) -> tuple[int, ...]:
        ssid = self.chwall_ssid(ssidref)
        if self.chwall is None or ssid is None or ssid >= self.chwall.max_ssidrefs:
            return ()
        return self.chwall.ssids[ssid]

    def ste_types(self, ssidref: int) -> tuple[int, ...]:
        return self.ste_types_of_ssid(self.ste_ssid(ssidref))

    def ste_types_of_ssid(self, ssid: int | None) -> tuple[int, ...]:
        if self.ste is None or ssid is None or ssid >= self.ste.max_ssidrefs:
            return ()
        return self.ste.ssids[ssid]

    def _ste_mask(self, ssid: int) -> int:
        mask = self._ste_masks.get(ssid)
        if mask is None:
            mask = 0
            for t in self.ste_types_of_ssid(ssid):
                mask |= 1 << t
            self._ste_masks[ssid] = mask
        return mask

    # ------------------------------------------------------------ Chinese Wall

    def _aggregate_delta(self, chwall_ssid: int) -> tuple[int, ...]:
        """The types whose conflict_aggregate rises by one (with repeats, one
        per conflict set) when a domain of this CHWALL SSID starts: for each
        conflict set sharing a type with it, its members not in the SSID."""
        delta = self._agg_delta.get(chwall_ssid)
        if delta is None:
            assert self.chwall is not None
            own = self.chwall.ssids[chwall_ssid]
            own_set = set(own)
            sets = sorted({c for t in own for c in self._sets_of_type[t]})
            delta = tuple(u for c in sets for u in self.chwall.conflict_sets[c] if u not in own_set)
            self._agg_delta[chwall_ssid] = delta
        return delta

    def check_create(
        self, ssidref: int, aggregate: Sequence[int] | Mapping[int, int]
    ) -> CreateDecision:
        """May a domain with `ssidref` start now? `aggregate` is the current
        conflict_aggregate (a list per type, or a mapping holding at least
        the label's types). Nothing is changed."""
        reasons: list[str] = []
        conflicts: list[ChwallConflict] = []
        cw_ssid = self.chwall_ssid(ssidref)
        ste_ssid = self.ste_ssid(ssidref)
        cw_types: tuple[int, ...] = ()
        if self.chwall is not None and cw_ssid is not None:
            if cw_ssid == NULL_SSID and not self.policy.versioned:
                reasons.append(
                    "chwall_pre_domain_create: ERROR CHWALL SSID is NOT SET but policy enforced."
                )
            elif cw_ssid >= self.chwall.max_ssidrefs:
                reasons.append(
                    "chwall_pre_domain_create: ERROR chwall_ssidref > "
                    f"max({self.chwall.max_ssidrefs - 1:x})."
                )
            else:
                cw_types = self.chwall.ssids[cw_ssid]
                for t in cw_types:
                    count = aggregate[t]
                    if count > 0:
                        conflicts.append(self._conflict(t, count, cw_types))
                if conflicts:
                    reasons.append(
                        "chwall_pre_domain_create: CHINESE WALL CONFLICT in type "
                        f"{conflicts[0].type:02x}."
                    )
        if self.ste is not None and ste_ssid is not None:
            if ste_ssid == NULL_SSID and not self.policy.versioned:
                reasons.append(
                    "ste_pre_domain_create: ERROR STE SSID is NOT SET but policy enforced."
                )
            elif ste_ssid >= self.ste.max_ssidrefs:
                top = self.ste.max_ssidrefs - 1
                reasons.append(f"ste_pre_domain_create: ERROR ste_ssidref > max({top:x}).")
        return CreateDecision(
            ssidref=ssidref,
            permitted=not reasons,
            chwall_ssid=cw_ssid,
            ste_ssid=ste_ssid,
            chwall_types=cw_types,
            reasons=tuple(reasons),
            conflicts=tuple(conflicts),
        )

    def _conflict(self, t: int, count: int, own: tuple[int, ...]) -> ChwallConflict:
        assert self.chwall is not None
        sets = tuple(self._sets_of_type[t])
        others = sorted({u for c in sets for u in self.chwall.conflict_sets[c] if u != t})
        return ChwallConflict(t, count, sets, tuple(others))

    def is_labeled(self, ssidref: int) -> bool:
        """Both parts have a non-null SSID (a domain that could start). Under
        a versioned policy (Xen 3.4) SSID 0 is the label `__UNLABELED__`."""
        if self.policy.versioned:
            return True
        cw, ste = self.chwall_ssid(ssidref), self.ste_ssid(ssidref)
        return (cw is None or cw != NULL_SSID) and (ste is None or ste != NULL_SSID)

    def _counted_row(self, ssidref: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """(own types, conflict-aggregate delta) of a running domain's CHWALL
        SSID; None when it holds no counters (no CHWALL part, or an SSID
        beyond the matrix). SSID 0 counts its row: Xen's hooks index the
        matrix with whatever SSID a domain holds. SSID 0 cannot be created
        under a CHWALL policy, but an unlabeled domain started under DEFAULT
        keeps it through a load, and its row has types when the bootstrap
        label moved the null entry (docs/compiler.md)."""
        cw_ssid = self.chwall_ssid(ssidref)
        if self.chwall is None or cw_ssid is None or cw_ssid >= self.chwall.max_ssidrefs:
            return None
        return self.chwall.ssids[cw_ssid], self._aggregate_delta(cw_ssid)

    def create_deltas(self, ssidref: int) -> dict[int, tuple[int, int]]:
        """Per CHWALL type, the (running, aggregate) increments of a create
        (section 2 step 3); a destroy subtracts the same."""
        row = self._counted_row(ssidref)
        if row is None:
            return {}
        deltas: dict[int, list[int]] = {}
        for t in row[0]:
            deltas.setdefault(t, [0, 0])[0] += 1
        for u in row[1]:
            deltas.setdefault(u, [0, 0])[1] += 1
        return {t: (r, a) for t, (r, a) in deltas.items()}

    def apply_create(self, ssidref: int, counters: ChwallCounters) -> None:
        """Section 2 step 3 on `counters` (after a permitted check)."""
        row = self._counted_row(ssidref)
        if row is None:
            return
        running, aggregate = counters.running, counters.aggregate
        for t in row[0]:
            running[t] += 1
        for u in row[1]:
            aggregate[u] += 1

    def apply_destroy(self, ssidref: int, counters: ChwallCounters) -> None:
        """The exact reverse of `apply_create`; CounterUnderflow (and no
        change) when a counter would go below zero."""
        row = self._counted_row(ssidref)
        if row is None:
            return
        running, aggregate = counters.running, counters.aggregate
        own, delta = row
        need: dict[int, int] = {}
        for u in delta:
            need[u] = need.get(u, 0) + 1
        bad = [t for t in own if running[t] < 1] + [u for u, n in need.items() if aggregate[u] < n]
        if bad:
            raise CounterUnderflow(
                f"Chinese Wall counters of type(s) {sorted(set(bad))} would go below zero "
                f"destroying a domain of ssidref 0x{ssidref:08x}"
            )
        for t in own:
            running[t] -= 1
        for u in delta:
            aggregate[u] -= 1

    def recompute_counters(self, ssidrefs: Iterable[int]) -> ChwallCounters:
        """The counters that the running domains alone imply."""
        counters = ChwallCounters.zero(self.chwall.max_types if self.chwall else 0)
        for ref in ssidrefs:
            self.apply_create(ref, counters)
        return counters

    def blocking_ssids(self, conflict: ChwallConflict) -> list[int]:
        """The CHWALL SSIDs whose running domains raised
        conflict_aggregate[conflict.type]: an SSID with a type of a conflict
        set that holds `type`, and without `type` itself."""
        assert self.chwall is not None
        if self._chwall_ssids_by_type is None:
            index: list[list[int]] = [[] for _ in range(self.chwall.max_types)]
            for ssid, types in enumerate(self.chwall.ssids):
                for t in types:
                    index[t].append(ssid)
            self._chwall_ssids_by_type = index
        found: set[int] = set()
        for u in conflict.blocking_types:
            found.update(self._chwall_ssids_by_type[u])
        own = set(self._chwall_ssids_by_type[conflict.type])
        return sorted(found - own)

    def explain(
        self,
        decision: CreateDecision,
        running_with_chwall_ssids: Callable[[Sequence[int]], Iterable[tuple[int, str]]],
    ) -> CreateDecision:
        """The decision with the blocking running domains filled in, looked up
        by the caller's index (CHWALL SSIDs -> (domid, name))."""
        if not decision.conflicts:
            return decision
        filled = []
        for conflict in decision.conflicts:
            ssids = self.blocking_ssids(conflict)
            blockers = tuple(Blocker(d, n) for d, n in running_with_chwall_ssids(ssids))
            filled.append(
                ChwallConflict(
                    conflict.type,
                    conflict.aggregate,
                    conflict.conflict_sets,
                    conflict.blocking_types,
                    blockers,
                )
            )
        return CreateDecision(
            decision.ssidref,
            decision.permitted,
            decision.chwall_ssid,
            decision.ste_ssid,
            decision.chwall_types,
            decision.reasons,
            tuple(filled),
        )

    # ------------------------------------------------------------ STE

    def common(self, ssidref_a: int, ssidref_b: int) -> bool:
        """`common(a, b)`; always True under a policy without STE part."""
        if self.ste is None:
            return True
        a, b = self.ste_ssid(ssidref_a), self.ste_ssid(ssidref_b)
        assert a is not None and b is not None
        return bool(self._ste_mask(a) & self._ste_mask(b))

    def check_share(self, subject_ssidref: int, object_ssidref: int) -> ShareDecision:
        """Sharing between two domains (no cache, no statistics)."""
        s_types = self.ste_types(subject_ssidref)
        o_types = self.ste_types(object_ssidref)
        if self.ste is None:
            return ShareDecision(True, subject_ssidref, object_ssidref, (), (), (), enforced=False)
        common = tuple(sorted(set(s_types) & set(o_types)))
        return ShareDecision(
            bool(common), subject_ssidref, object_ssidref, s_types, o_types, common
        )

    def sharing_hook(
        self,
        hook: SharingHook,
        subject_ssidref: int,
        subject_cache: Sequence[int | None],
        object_domid: int,
        object_ssidref: int,
    ) -> HookResult:
        """One STE sharing hook as Xen ran it: a cache hit (the remote id is
        in the subject's cache) permits; else evaluate `common`, and cache a
        permitted result in the first free slot (none free: not cached)."""
        cache = tuple(subject_cache)
        if len(cache) != STE_CACHE_SIZE:
            cache = (tuple(cache) + (None,) * STE_CACHE_SIZE)[:STE_CACHE_SIZE]
        if self.ste is None:
            return HookResult(hook, True, False, cache)
        if object_domid in cache:
            return HookResult(hook, True, True, cache)
        if not self.common(subject_ssidref, object_ssidref):
            return HookResult(hook, False, False, cache)
        if None in cache:
            slots = list(cache)
            slots[slots.index(None)] = object_domid
            return HookResult(hook, True, False, tuple(slots))
        return HookResult(hook, True, False, cache, cache_full=True)

    def check_resource(
        self,
        domain_ssidref: int,
        resource: str,
        label: str | None,
        resource_ste_ssid: int,
    ) -> ResourceDecision:
        """Resource access: the domain's STE types and the resource's must
        share one. `resource_ste_ssid` 0 is an unlabeled resource."""
        if self.ste is None:
            return ResourceDecision(
                True, resource, label, domain_ssidref, resource_ste_ssid, (), (), (), "", False
            )
        d_types = self.ste_types(domain_ssidref)
        r_types = self.ste_types_of_ssid(resource_ste_ssid)
        common = tuple(sorted(set(d_types) & set(r_types)))
        if common:
            message = ""
        elif resource_ste_ssid == NULL_SSID or label is None:
            message = f"Resource '{resource}' is not labeled"
        else:
            message = (
                f"Permission denied for resource '{resource}' because label '{label}' "
                "is not allowed"
            )
        return ResourceDecision(
            bool(common),
            resource,
            label,
            domain_ssidref,
            resource_ste_ssid,
            d_types,
            r_types,
            common,
            message,
        )

    # ------------------------------------------------------------ a new policy

    def chwall_walk(self, domains: Sequence[RunningDomain]) -> ChwallWalk:
        """Xen 3.0.4's `chwall_init_state` with this policy's matrices: the
        running domains in id order, each one's types added to fresh
        running counters and checked against the conflict aggregate of the
        domains before it, then every conflict set sharing a type with it
        adds its types except the domain's own. A domain found in conflict
        still counts, so every later domain it blocks is found too; a
        domain whose CHWALL SSID is beyond the matrix is left out (Xen read
        past it; `revalidate` reports it). The counters never depend on the
        order: they are `recompute_counters` of the walked domains."""
        counters = ChwallCounters.zero(self.chwall.max_types if self.chwall else 0)
        walk = ChwallWalk(counters)
        for dom in sorted(domains, key=lambda d: d.domid):
            row = self._counted_row(dom.ssidref)
            if row is None:
                continue
            own, delta = row
            blocked = tuple(t for t in own if counters.aggregate[t] > 0)
            if blocked:
                sets = tuple(sorted({c for t in blocked for c in self._sets_of_type[t]}))
                walk.conflicts.append(WalkConflict(dom.domid, dom.name, blocked, sets))
            for t in own:
                counters.running[t] += 1
            for u in delta:
                counters.aggregate[u] += 1
            walk.walked += 1
        return walk

    def revalidate(
        self,
        domains: Sequence[RunningDomain],
        connections: Sequence[Connection] = (),
        resources: Sequence[ResourceUse] = (),
    ) -> RevalidationResult:
        """Section 5: the running state checked against this (new) policy, as
        if every running domain had been created under it, each with the
        ssidref number it holds. Every violation is listed; the counters of
        the Chinese Wall walk (`chwall_walk`) come back when there is none."""
        result = RevalidationResult()
        out = result.violations
        by_id = {d.domid: d for d in domains}
        per_domain: dict[int, list[Violation]] = {}
        for dom in domains:
            per_domain.setdefault(dom.domid, []).extend(self._range_violations(dom))
        walk = self.chwall_walk(domains)
        for c in walk.conflicts:
            names = ", ".join(self.names.chwall_type(t) for t in c.types)
            set_names = ", ".join(self.names.conflict_set(s) for s in c.conflict_sets)
            per_domain[c.domid].append(
                Violation(
                    ViolationKind.CHWALL,
                    c.domid,
                    c.name,
                    f"domain '{c.name}' (id {c.domid}): Chinese Wall conflict in "
                    f"type(s) {names} (conflict set {set_names}) with the domains "
                    "started before it",
                    c.types,
                    c.conflict_sets,
                )
            )
        for domid in sorted(per_domain):
            out.extend(per_domain[domid])
        for conn in connections:
            fe, be = by_id.get(conn.frontend), by_id.get(conn.backend)
            if fe is None or be is None or self.ste is None:
                continue
            if not self._ssid_in_range(fe.ssidref) or not self._ssid_in_range(be.ssidref):
                continue
            if not self.common(fe.ssidref, be.ssidref):
                out.append(
                    Violation(
                        ViolationKind.SHARING,
                        fe.domid,
                        fe.name,
                        f"domain '{fe.name}' (id {fe.domid}): {conn.device} with backend "
                        f"'{be.name}' (id {be.domid}): no common STE type",
                        other=be.name,
                    )
                )
        for use in resources:
            user = by_id.get(use.domid)
            if user is None or self.ste is None or not self._ssid_in_range(user.ssidref):
                continue
            ste_ssid = use.ste_ssid if use.ste_ssid < self.ste.max_ssidrefs else NULL_SSID
            decision = self.check_resource(user.ssidref, use.resource, use.label, ste_ssid)
            if not decision.permitted:
                out.append(
                    Violation(
                        ViolationKind.RESOURCE,
                        user.domid,
                        user.name,
                        f"domain '{user.name}' (id {user.domid}): {decision.message}",
                        other=use.resource,
                    )
                )
        if not out:
            result.counters = walk.counters
        return result

    def _range_violations(self, dom: RunningDomain) -> list[Violation]:
        """An ssidref half beyond the policy's SSIDs."""
        found = []
        parts = (("CHWALL", self.chwall, self.chwall_ssid), ("STE", self.ste, self.ste_ssid))
        for part, matrix, ssid_of in parts:
            ssid = ssid_of(dom.ssidref)
            if matrix is not None and ssid is not None and ssid >= matrix.max_ssidrefs:
                found.append(
                    Violation(
                        ViolationKind.SSID_RANGE,
                        dom.domid,
                        dom.name,
                        f"domain '{dom.name}' (id {dom.domid}): {part} SSID {ssid:x} is beyond "
                        f"the new policy's {matrix.max_ssidrefs:x} SSIDs",
                    )
                )
        return found

    def _ssid_in_range(self, ssidref: int) -> bool:
        cw, ste = self.chwall_ssid(ssidref), self.ste_ssid(ssidref)
        if self.chwall is not None and cw is not None and cw >= self.chwall.max_ssidrefs:
            return False
        return not (self.ste is not None and ste is not None and ste >= self.ste.max_ssidrefs)
