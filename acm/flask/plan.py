"""What each ACM label becomes in FLASK, worked out once.

ACM's rules (enforcement.md) and how they are carried:

- STE: two domains may share event channels and grants exactly when their
  labels share an STE type (always, under a policy without STE part). Each
  STE type becomes an attribute held by the domain types of the labels
  that hold it; a label may talk to the union of its types' attributes, so
  the module grows with labels times types, never with pairs of labels.
- Chinese Wall: two labels that can never run at the same time (each,
  running, keeps the other from starting, or one can never start at all)
  never communicate under ACM. Their pairs are taken out of the target set
  (`{ acm_ste_a -acm_cwgroupN }`, one attribute per Chinese Wall type set),
  and each conflict set becomes `neverallow` rules between its types'
  attributes, so that checkpolicy rejects a later hand edit that lets them.
- Domain-0 runs as Xen's `dom0_t` and carries the bootstrap label's
  attributes besides; it may create and manage every label that ACM let it
  start (one that the bootstrap label, running, does not block).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from acm.analysis.conflicts import ConflictGraph, build_conflicts
from acm.analysis.loader import AnalysisPolicy, Label
from acm.flask.naming import (
    ALL_DOMAINS,
    CW_CHANNEL_PREFIX,
    CW_GROUP_PREFIX,
    CW_PREFIX,
    DEFAULT_DOMU_TYPE,
    PEERS_PREFIX,
    RES_PREFIX,
    STE_PREFIX,
    STE_RES_PREFIX,
    UNLABELED,
    VM_PREFIX,
    Namer,
    module_name,
)
from acm.source import LabelKind


@dataclass(frozen=True)
class VmPlan:
    """One VM label as a FLASK domain type."""

    label: Label
    flask_type: str
    declared: bool  # False for __UNLABELED__, which is Xen's own domU_t
    startable: bool  # ACM lets a domain with it run at all
    why_not: str  # when not startable: why
    attributes: tuple[str, ...]  # of the domain type (declare_domain's attrs)
    channel_attributes: tuple[str, ...]  # of its `_channel` type
    peers: tuple[str, ...]  # type sets it may share event channels and grants with
    excluded_groups: tuple[int, ...]  # Chinese Wall groups taken out of `peers`
    resources: str  # resource type set it may use; "" none


@dataclass(frozen=True)
class ResPlan:
    """One resource label as a FLASK resource type."""

    label: Label
    flask_type: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class NeverRule:
    """`neverallow` from the holders of Chinese Wall type `first` that hold
    none of the types it shares a conflict set with (`others`), to the
    holders of any of `others` that do not hold `first`: each such pair
    blocks each other, so never runs together. One rule per type (not per
    pair of types) keeps checkpolicy's check of them fast."""

    first: int
    others: tuple[int, ...]


@dataclass
class FlaskPlan:
    policy: AnalysisPolicy
    module: str
    vms: list[VmPlan]
    resources: list[ResPlan]
    bootstrap: VmPlan | None  # Domain-0's label, when it can be resolved
    ste_attributes: dict[int, str]  # STE type -> attribute of its domain types
    ste_res_attributes: dict[int, str]  # STE type -> attribute of its resource types
    cw_attributes: dict[int, str]  # Chinese Wall type -> attribute
    cw_channel_attributes: dict[int, str]
    group_attributes: dict[int, str]  # Chinese Wall group -> attribute
    never_rules: list[NeverRule]
    all_ste: str | None  # the stand-in attribute of a policy without STE part
    all_ste_res: str | None
    conflicts: ConflictGraph
    mutual: dict[int, set[int]] = field(default_factory=dict)  # group -> groups it excludes
    peer_attributes: list[str] = field(default_factory=list)  # the target sets with a cut

    def vm(self, name: str) -> VmPlan:
        return next(v for v in self.vms if v.label.name == name)


def _type_set(include: list[str], exclude: list[str]) -> str:
    if not include:
        return ""
    if len(include) == 1 and not exclude:
        return include[0]
    return "{ " + " ".join(include + ["-" + e for e in exclude]) + " }"


PeerKey = tuple[tuple[int, ...], tuple[int, ...]]  # (STE types, Chinese Wall groups taken out)


def _peers(
    lab: Label, mutual: set[int], group_ste: dict[int, set[int]], has_ste: bool
) -> tuple[list[int], dict[tuple[int, ...], list[int]]]:
    """Whom `lab` may talk to: its STE types whose holders it runs with
    (plain), and the others grouped by the Chinese Wall groups that must be
    taken out of their holders."""
    if not has_ste:  # no STE part: one stand-in type (-1) held by all
        return ([], {tuple(sorted(mutual)): [-1]}) if mutual else ([-1], {})
    plain: list[int] = []
    cut_by: dict[tuple[int, ...], list[int]] = {}
    for t in lab.ste:
        cut = tuple(sorted(h for h in mutual if t in group_ste[h]))
        if cut:
            cut_by.setdefault(cut, []).append(t)
        else:
            plain.append(t)
    return plain, cut_by


def _names_ssid0_unlabeled(policy: AnalysisPolicy) -> bool:
    """The versioned format names SSID 0 `__UNLABELED__` when the policy has it."""
    pmap = policy.compiled.map
    return any(
        entry.ssid == 0 and entry.name == UNLABELED
        for part in (pmap.chwall, pmap.ste)
        if part is not None
        for entry in part.labels
    )


def build_plan(policy: AnalysisPolicy) -> FlaskPlan:
    namer = Namer()
    cg = build_conflicts(policy)
    module = module_name(policy.name)

    ste_attr = {t: namer.ident(STE_PREFIX, n) for t, n in enumerate(policy.ste_types)}
    ste_res_attr = {t: namer.ident(STE_RES_PREFIX, n) for t, n in enumerate(policy.ste_types)}
    all_ste = None if policy.has_ste else namer.ident(STE_PREFIX, "all")
    all_ste_res = None if policy.has_ste else namer.ident(STE_RES_PREFIX, "all")
    cw_attr = {t: namer.ident(CW_PREFIX, n) for t, n in enumerate(policy.chwall_types)}
    cw_chan = {t: namer.ident(CW_CHANNEL_PREFIX, n) for t, n in enumerate(policy.chwall_types)}
    group_attr = {g.index: namer.ident(CW_GROUP_PREFIX, str(g.index)) for g in cg.groups}

    # Which labels can never start, and which pairs of groups never run together.
    boot = next((lab for lab in policy.vm_labels if lab.bootstrap and lab.usable), None)
    boot_group = cg.group_of.get(boot.key) if boot is not None else None
    never: dict[str, str] = {lab.key: lab.problem or "" for lab in cg.excluded}
    if boot_group is not None and boot is not None:
        for g in cg.graph.successors(boot_group):
            for lab in cg.groups[g].labels:
                never[lab.key] = f"blocked by Domain-0, which runs with '{boot.name}'"
    never_groups = {cg.group_of[k] for k in never if k in cg.group_of}
    mutual: dict[int, set[int]] = {}
    for g in range(len(cg.groups)):
        if g in never_groups or g == boot_group:
            mutual[g] = set()
            continue
        succ = set(cg.graph.successors(g))
        mutual[g] = {
            h
            for h in succ & set(cg.graph.predecessors(g))
            if h != boot_group and h not in never_groups
        }

    # The STE types of each group's labels: whose holders a group takes out.
    group_ste = {g.index: {t for lab in g.labels for t in lab.ste} for g in cg.groups}

    # Which STE types resources hold (a label's resource set names only those).
    res_types = {t for lab in policy.res_labels if lab.usable for t in lab.ste}

    # Target sets from which Chinese Wall groups are taken out: one attribute
    # each, its members listed here, so that checkpolicy keeps every allow
    # rule on attributes (a `{ a -b }` set would be expanded to types).
    peer_sets: dict[PeerKey, str] = {}
    vms: list[VmPlan] = []
    for lab in policy.vm_labels:
        unlabeled = lab.name == UNLABELED
        flask_type = DEFAULT_DOMU_TYPE if unlabeled else namer.ident(VM_PREFIX, lab.name, "_t")
        startable = lab.usable and lab.key not in never and not unlabeled
        why = never.get(lab.key, lab.problem or "")
        if unlabeled:
            why = "mapped to Xen's default domain label"
        attrs: list[str] = [] if unlabeled else [ALL_DOMAINS]
        chan_attrs: list[str] = []
        peers: tuple[str, ...] = ()
        res = ""
        excluded: list[int] = []
        if lab.usable and not unlabeled:
            attrs += [cw_attr[t] for t in lab.chwall]
            chan_attrs = [cw_chan[t] for t in lab.chwall]
            attrs.append(group_attr[cg.group_of[lab.key]])
        if startable:
            ste_sets = [ste_attr[t] for t in lab.ste] if policy.has_ste else [str(all_ste)]
            attrs = attrs[:1] + ste_sets + attrs[1:]
            g = cg.group_of[lab.key]
            plain, cut_by = _peers(lab, mutual[g], group_ste, policy.has_ste)
            named = [ste_attr[t] if t >= 0 else str(all_ste) for t in plain]
            sets = [_type_set(named, [])] if named else []
            for cut, types in cut_by.items():
                key = (tuple(types), cut)
                if key not in peer_sets:
                    peer_sets[key] = namer.ident(PEERS_PREFIX, str(len(peer_sets)))
                sets.append(peer_sets[key])
            peers = tuple(sets)
            excluded = sorted({h for cut in cut_by for h in cut})
            if policy.has_ste:
                res = _type_set([ste_res_attr[t] for t in lab.ste if t in res_types], [])
            elif policy.res_labels:
                res = str(all_ste_res)
        plan = VmPlan(
            lab,
            flask_type,
            not unlabeled,
            startable,
            "" if startable else why,
            tuple(attrs),
            tuple(chan_attrs),
            peers,
            tuple(excluded),
            res,
        )
        vms.append(plan)

    # Each peer set's members: the startable holders of its types outside its cut.
    holders: dict[int, list[int]] = {}  # STE type (-1: all) -> index in vms
    for i, vm in enumerate(vms):
        if vm.startable:
            for t in vm.label.ste if policy.has_ste else (-1,):
                holders.setdefault(t, []).append(i)
    member_of: dict[int, list[str]] = {}
    boot_index = next((i for i, v in enumerate(vms) if v.label.bootstrap and v.label.usable), None)
    for (set_types, set_cut), attr in peer_sets.items():
        taken = set(set_cut)
        for i in sorted({i for t in set_types for i in holders.get(t, ())}):
            if cg.group_of[vms[i].label.key] not in taken:
                member_of.setdefault(i, []).append(attr)
    for i, attrs_more in member_of.items():
        vms[i] = replace(vms[i], attributes=vms[i].attributes + tuple(attrs_more))
    bootstrap = vms[boot_index] if boot_index is not None else None

    if not any(v.label.name == UNLABELED for v in vms) and _names_ssid0_unlabeled(policy):
        # Xen 3.4's `__UNLABELED__` is SSID 0, which no label resolves to.
        nobody = Label(UNLABELED, LabelKind.VM, (), (), None, None, (), (), "SSID 0")
        why = "mapped to Xen's default domain label"
        vms.append(VmPlan(nobody, DEFAULT_DOMU_TYPE, False, False, why, (), (), (), (), ""))

    resources = []
    for lab in policy.res_labels:
        if not lab.usable:
            continue
        held = [ste_res_attr[t] for t in lab.ste] if policy.has_ste else [str(all_ste_res)]
        resources.append(ResPlan(lab, namer.ident(RES_PREFIX, lab.name, "_t"), tuple(held)))

    partners: dict[int, set[int]] = {}
    for members in policy.conflict_sets:
        for t in members:
            partners.setdefault(t, set()).update(u for u in members if u != t)
    rules = [NeverRule(t, tuple(sorted(us))) for t, us in sorted(partners.items()) if us]
    return FlaskPlan(
        policy,
        module,
        vms,
        resources,
        bootstrap,
        ste_attr,
        ste_res_attr,
        cw_attr,
        cw_chan,
        group_attr,
        rules,
        all_ste,
        all_ste_res,
        cg,
        mutual,
        sorted(peer_sets.values()),
    )
