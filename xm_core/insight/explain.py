"""`xm acm explain CONFIG | --label L`: why a domain would be permitted or
denied on this host now.

Explain decides with the same checks as `xm create` and `xm dry-run`
(`domains.resolve_label`, `devices.check_device`, `Engine.check_create` and
`Engine.explain` with the store's index of running domains), inside one
read snapshot, and changes nothing. It then names what the decisions
involved: the label's types, for each Chinese Wall type whether it is
blocked, by which conflict set and by which running domains (with their
labels and the types they hold in that set), each resource with its label
and the STE types it shares with the domain (or the ones it lacks), and
each device's backend domain with the STE types they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.devices import VBD, DeviceCheck
from xm_core.host.domains import DomainSpec, LabelCheck, decide_create, domain_spec
from xm_core.host.model import Host, LoadedPolicy
from xm_core.host.store import PolicyState

if TYPE_CHECKING:
    from acm.engine import ChwallConflict, CreateDecision


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class RunningHolder:
    """A running domain that raised the conflict aggregate of a type: it holds
    `conflicting` (types of the conflict set that the new domain lacks)."""

    domid: int
    name: str
    label: str | None
    chwall_types: tuple[str, ...]
    conflicting: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "name": self.name,
            "label": self.label,
            "chwall_types": list(self.chwall_types),
            "conflicting_types": list(self.conflicting),
        }


@dataclass(frozen=True)
class ConflictSetUse:
    """A conflict set holding one of the label's Chinese Wall types."""

    index: int
    name: str
    types: tuple[str, ...]
    blockers: tuple[RunningHolder, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "types": list(self.types),
            "blockers": [b.as_dict() for b in self.blockers],
        }


@dataclass(frozen=True)
class ChwallTypeReason:
    """One Chinese Wall type of the label: blocked when its conflict
    aggregate is above zero (enforcement.md section 2 step 2)."""

    type: str
    blocked: bool
    aggregate: int
    conflict_sets: tuple[ConflictSetUse, ...]
    unattributed: tuple[RunningHolder, ...] = ()  # blockers found in none of the sets

    @property
    def blockers(self) -> tuple[RunningHolder, ...]:
        seen: dict[int, RunningHolder] = {}
        for c in self.conflict_sets:
            for b in c.blockers:
                seen.setdefault(b.domid, b)
        for b in self.unattributed:
            seen.setdefault(b.domid, b)
        return tuple(seen[d] for d in sorted(seen))

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "blocked": self.blocked,
            "aggregate": self.aggregate,
            "conflict_sets": [c.as_dict() for c in self.conflict_sets],
            "blockers": [b.as_dict() for b in self.blockers],
        }


@dataclass(frozen=True)
class ChwallReason:
    permitted: bool
    ssid: int | None
    types: tuple[ChwallTypeReason, ...]
    reasons: tuple[str, ...]  # the hypervisor's messages (empty when permitted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "permitted": self.permitted,
            "ssid": self.ssid,
            "types": [t.as_dict() for t in self.types],
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class SteReason:
    permitted: bool
    ssid: int | None
    types: tuple[str, ...]
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "permitted": self.permitted,
            "ssid": self.ssid,
            "types": list(self.types),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ResourceReason:
    """A resource (disk, or labeled bridge) against the domain's STE types."""

    device: str  # "vbd sda1"
    written: str  # as the config wrote it
    resource: str  # canonical
    label: str | None
    label_policy: str | None
    other_policy: bool  # labeled for a policy other than the active one
    permitted: bool
    message: str
    domain_types: tuple[str, ...]
    resource_types: tuple[str, ...]
    common_types: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "written": self.written,
            "resource": self.resource,
            "label": self.label,
            "label_policy": self.label_policy,
            "other_policy": self.other_policy,
            "permitted": self.permitted,
            "message": self.message,
            "domain_types": list(self.domain_types),
            "resource_types": list(self.resource_types),
            "common_types": list(self.common_types),
        }


@dataclass(frozen=True)
class SharingReason:
    """A device's frontend (the domain) and its backend domain."""

    device: str
    backend_domid: int | None
    backend_name: str
    backend_label: str | None
    permitted: bool
    message: str
    enforced: bool  # False: no policy, or one without STE part
    domain_types: tuple[str, ...]
    backend_types: tuple[str, ...]
    common_types: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "backend": {
                "domid": self.backend_domid,
                "name": self.backend_name,
                "label": self.backend_label,
                "ste_types": list(self.backend_types),
            },
            "permitted": self.permitted,
            "enforced": self.enforced,
            "message": self.message,
            "domain_types": list(self.domain_types),
            "common_types": list(self.common_types),
        }


@dataclass
class Explanation:
    """Everything `explain` found; `permitted` is the verdict of `xm create`."""

    name: str | None
    source: str  # the config file, or "--label"
    policy: str  # the active policy's name, or DEFAULT / NULL
    label: LabelCheck
    chwall_type_names: tuple[str, ...] = ()
    ste_type_names: tuple[str, ...] = ()
    chwall: ChwallReason | None = None
    ste: SteReason | None = None
    resources: list[ResourceReason] = field(default_factory=list)
    sharing: list[SharingReason] = field(default_factory=list)
    device_errors: list[str] = field(default_factory=list)
    name_in_use: int | None = None  # the id of a running domain with this name

    @property
    def permitted(self) -> bool:
        return (
            self.label.permitted
            and not self.device_errors
            and all(r.permitted for r in self.resources)
            and all(s.permitted for s in self.sharing)
            and (self.chwall is None or self.chwall.permitted)
            and (self.ste is None or self.ste.permitted)
        )

    @property
    def enforced(self) -> bool:
        return self.policy not in (PolicyState.DEFAULT.value, PolicyState.NULL.value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "policy": self.policy,
            "permitted": self.permitted,
            "label": {
                "permitted": self.label.permitted,
                "label": self.label.label,
                "policy": self.label.policy,
                "ssidref": self.label.ssidref,
                "message": self.label.message,
                "chwall_types": list(self.chwall_type_names),
                "ste_types": list(self.ste_type_names),
            },
            "chinese_wall": self.chwall.as_dict() if self.chwall else None,
            "ste": self.ste.as_dict() if self.ste else None,
            "resources": [r.as_dict() for r in self.resources],
            "sharing": [s.as_dict() for s in self.sharing],
            "device_errors": list(self.device_errors),
            "name_in_use": self.name_in_use,
        }


# ------------------------------------------------------------------ explaining


def explain_config(paths: HostPaths, config: str, overrides: Sequence[str] = ()) -> Explanation:
    """Explain `xm create CONFIG [name=value ...]` under the host's state now."""
    from xm_core.files.config import load_config

    cfg = load_config(paths, config, tuple(overrides))
    spec = domain_spec(cfg, need_name=False)
    return _explain(paths, spec, spec.name, cfg.path)


def explain_label(paths: HostPaths, label: str) -> Explanation:
    """Explain a domain with LABEL of the active policy and no devices."""
    with Host(paths) as host, host.store.read():
        state, name = host.policy_state()
    if state is not PolicyState.NAMED or name is None:
        raise XmError(
            f"No policy is loaded (active policy: {state.value}); "
            "--label names a label of the active policy"
        )
    spec = DomainSpec(None, 0, 0, 1, (name, label), None, [], {}, "--label")
    return _explain(paths, spec, None, "--label")


def _explain(paths: HostPaths, spec: DomainSpec, name: str | None, source: str) -> Explanation:
    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.read():
            outcome = decide_create(host, spec, name or "", labels)
            policy = host.policy()
            check = outcome.label
            result = Explanation(name, source, outcome.policy, check)
            running = host.store.find_domain(name) if name else None
            if running is not None:
                result.name_in_use = running.domid
            if not check.permitted:
                return result
            devices = outcome.devices
            decision = outcome.decision
            if policy is not None:
                assert decision is not None
                engine = policy.engine
                types = engine.chwall_types(check.ssidref)
                names = engine.names
                result.chwall_type_names = tuple(names.chwall_type(t) for t in types)
                result.ste_type_names = tuple(
                    names.ste_type(t) for t in engine.ste_types(check.ssidref)
                )
                result.chwall = _chwall_reason(host, policy, decision)
                result.ste = _ste_reason(policy, decision)
            for dev in devices:
                _device_reasons(host, policy, dev, result)
    return result


def _chwall_reason(
    host: Host, policy: LoadedPolicy, decision: CreateDecision
) -> ChwallReason | None:
    engine = policy.engine
    cw = policy.binary.chwall
    if cw is None:
        return None
    names = engine.names
    reasons = tuple(r for r in decision.reasons if r.startswith("chwall_"))
    conflicts = {c.type: c for c in decision.conflicts}
    aggregates: dict[int, tuple[int, int]] = host.store.chwall_counters_of(decision.chwall_types)
    found = []
    for t in decision.chwall_types:
        sets = [c for c, members in enumerate(cw.conflict_sets) if t in members]
        conflict = conflicts.get(t)
        if conflict is None:
            uses = tuple(
                ConflictSetUse(c, names.conflict_set(c), _type_names(policy, cw.conflict_sets[c]))
                for c in sets
            )
            found.append(ChwallTypeReason(names.chwall_type(t), False, aggregates[t][1], uses))
            continue
        found.append(_blocked_type(host, policy, conflict))
    return ChwallReason(not reasons, decision.chwall_ssid, tuple(found), reasons)


def _blocked_type(host: Host, policy: LoadedPolicy, conflict: ChwallConflict) -> ChwallTypeReason:
    """Attribute each blocker to the conflict sets through which it raised the
    type's aggregate: those holding one of its types."""
    engine = policy.engine
    cw = policy.binary.chwall
    assert cw is not None
    names = engine.names
    holders = []
    for blocker in conflict.blockers:
        record = host.store.find_domain(blocker.domid)
        ssidref = record.ssidref if record is not None else 0
        label = (record.label or host.label_of(policy, ssidref)) if record else None
        holders.append((blocker, label, set(engine.chwall_types(ssidref))))
    uses = []
    attributed: set[int] = set()
    for c in conflict.conflict_sets:
        members = cw.conflict_sets[c]
        in_set = []
        for blocker, label, own in holders:
            conflicting = [u for u in members if u in own and u != conflict.type]
            if conflicting:
                attributed.add(blocker.domid)
                in_set.append(
                    RunningHolder(
                        blocker.domid,
                        blocker.name,
                        label,
                        tuple(names.chwall_type(u) for u in sorted(own)),
                        tuple(names.chwall_type(u) for u in conflicting),
                    )
                )
        uses.append(
            ConflictSetUse(c, names.conflict_set(c), _type_names(policy, members), tuple(in_set))
        )
    rest = tuple(
        RunningHolder(b.domid, b.name, label, tuple(names.chwall_type(u) for u in sorted(own)), ())
        for b, label, own in holders
        if b.domid not in attributed
    )
    return ChwallTypeReason(
        names.chwall_type(conflict.type), True, conflict.aggregate, tuple(uses), rest
    )


def _type_names(policy: LoadedPolicy, types: Sequence[int]) -> tuple[str, ...]:
    return tuple(policy.engine.names.chwall_type(t) for t in types)


def _ste_reason(policy: LoadedPolicy, decision: CreateDecision) -> SteReason | None:
    engine = policy.engine
    if engine.ste is None:
        return None
    reasons = tuple(r for r in decision.reasons if r.startswith("ste_"))
    types = tuple(engine.names.ste_type(t) for t in engine.ste_types(decision.ssidref))
    return SteReason(not reasons, decision.ste_ssid, types, reasons)


def _device_reasons(
    host: Host, policy: LoadedPolicy | None, check: DeviceCheck, into: Explanation
) -> None:
    dev = check.device
    if check.backend is None:
        into.device_errors.append(f"{dev.display}: {check.error}")
        return
    names = policy.engine.names if policy is not None else None

    def ste(types: Sequence[int]) -> tuple[str, ...]:
        return tuple(names.ste_type(t) for t in types) if names is not None else ()

    decision = check.resource
    if decision is not None:
        other = check.resource_policy is not None and (
            policy is None or check.resource_policy != policy.name
        )
        into.resources.append(
            ResourceReason(
                dev.display,
                dev.written_resource,
                decision.resource,
                check.resource_label,
                check.resource_policy,
                other,
                decision.permitted,
                decision.message,
                ste(decision.domain_types),
                ste(decision.resource_types),
                ste(decision.common_types),
            )
        )
    elif dev.kind == VBD and dev.resource is not None:
        # no policy: nothing is checked but "security off, yet labeled"
        into.resources.append(
            ResourceReason(
                dev.display,
                dev.written_resource,
                dev.resource,
                check.resource_label,
                check.resource_policy,
                False,
                not check.error,
                check.error,
                (),
                (),
                (),
            )
        )
    backend = check.backend
    backend_label = backend.label or host.label_of(policy, backend.ssidref)
    sharing = check.sharing
    if sharing is None:
        into.sharing.append(
            SharingReason(
                dev.display, backend.domid, backend.name, backend_label, True, "", False, (), (), ()
            )
        )
        return
    message = ""
    if not sharing.permitted:
        message = (
            f"Permission denied: {dev.display} and its backend domain "
            f"'{backend.name}' share no STE type"
        )
    into.sharing.append(
        SharingReason(
            dev.display,
            backend.domid,
            backend.name,
            backend_label,
            sharing.permitted,
            message,
            sharing.enforced,
            ste(sharing.subject_types),
            ste(sharing.object_types),
            ste(sharing.common_types),
        )
    )
