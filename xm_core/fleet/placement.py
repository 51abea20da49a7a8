"""Which host can take a domain, and why not the others.

Nothing here decides what the host decides: the label is resolved by the
host's `resolve_label`, the Chinese Wall by the host's `Engine`
(`check_create` on the host's counters as the inventory holds them, and
`explain` to name the running domains that block), devices by the host's
`check_device` against the host itself (resources and their labels live on
the host). Memory and vCPUs come from the host's own figures. The fleet
adds only the order: hard rules first, then spread or pack, and zones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.files.paths import HostPaths
from xm_core.fleet.hoststate import loaded_policy
from xm_core.fleet.store import DomainRow, HostRow, PolicyRow

if TYPE_CHECKING:
    from acm.engine import CreateDecision
    from xm_core.host.domains import DomainSpec, LabelCheck
    from xm_core.host.model import Host, LoadedPolicy


class Rule(StrEnum):
    """The hard rule a refusal names."""

    POLICY = "policy"  # the host runs another policy (or none)
    LABEL = "label"  # the label is not in that host's policy
    CHINESE_WALL = "chinese-wall"
    STE = "ste"  # a resource or backend the label may not use
    MEMORY = "memory"
    VCPUS = "vcpus"
    HOST = "host"  # the host itself refused, or cannot be read


class Preference(StrEnum):
    SPREAD = "spread"  # most free memory first, zones evened out
    PACK = "pack"  # least free memory first: fill hosts before opening others


@dataclass(frozen=True)
class Refusal:
    rule: Rule
    message: str  # the rule and what blocks it
    details: tuple[str, ...] = ()  # the host's own words

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.value, "message": self.message, "details": list(self.details)}


@dataclass
class Verdict:
    host: str
    zone: str
    refusals: list[Refusal]

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "zone": self.zone,
            "refusals": [r.as_dict() for r in self.refusals],
        }


@dataclass
class Placement:
    """One domain: the chosen host (None: no host can take it), the other
    hosts that could, in preference order, and every host refused."""

    name: str
    label: str | None
    memory: int
    vcpus: int
    chosen: str | None
    candidates: list[str] = field(default_factory=list)
    refused: list[Verdict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "memory": self.memory,
            "vcpus": self.vcpus,
            "host": self.chosen,
            "candidates": self.candidates,
            "refused": [v.as_dict() for v in self.refused],
        }


def memory_shortage(need: int, row: HostRow) -> str:
    """`needs N MiB, M free` (and what Domain-0 could give by ballooning)."""
    extra = row.available_memory - row.free_memory
    more = f" (+{extra} from Domain-0)" if extra > 0 else ""
    return f"needs {need} MiB, {row.free_memory} free{more}"


# ------------------------------------------------------------------ the fleet in memory


class FleetHost:
    """A host as the inventory has it, with its policy decoded and its
    running domains indexed by Chinese Wall SSID (the blockers' lookup)."""

    def __init__(self, row: HostRow, policy: LoadedPolicy | None, complete: bool = True) -> None:
        self.row = row
        self.policy = policy
        # row.domains holds every domain of the host; else only those of the
        # Chinese Wall SSIDs in `fetched` (the blockers a refusal names)
        self.complete = complete
        self.fetched: set[int] = set()
        self.version = 0  # one more for each domain placed here in memory
        self._host: Host | None = None
        self.by_chwall_ssid: dict[int, list[DomainRow]] = {}
        self.by_domid: dict[int, DomainRow] = {}
        for d in row.domains:
            self._index(d)

    @property
    def host(self) -> Host:
        """The host, for the host's label functions (its store is never opened here)."""
        if self._host is None:
            from xm_core.host.model import Host

            self._host = Host(HostPaths(Path(self.row.root)))
        return self._host

    def missing(self, ssids: Sequence[int]) -> list[int]:
        """Of these Chinese Wall SSIDs, those whose domains are not known here."""
        return [] if self.complete else [s for s in ssids if s not in self.fetched]

    def known(self, ssids: Sequence[int], domains: Sequence[DomainRow]) -> None:
        """The domains of these SSIDs, read from the inventory."""
        self.fetched.update(ssids)
        have = {d.domid for d in self.row.domains}
        for d in domains:
            if d.domid not in have:
                self.row.domains.append(d)
                self._index(d)

    def _index(self, d: DomainRow) -> None:
        self.by_domid[d.domid] = d
        if self.policy is not None:
            ssid = self.policy.engine.chwall_ssid(d.ssidref)
            if ssid is not None:
                self.by_chwall_ssid.setdefault(ssid, []).append(d)

    def running(self, ssids: Sequence[int]) -> list[tuple[int, str]]:
        return [(d.domid, d.name) for s in ssids for d in self.by_chwall_ssid.get(s, ())]

    def label_of(self, domid: int) -> str:
        d = self.by_domid.get(domid)
        if d is None:
            return "?"
        return d.label or f"0x{d.ssidref:08x}"

    def add(self, name: str, ssidref: int, label: str | None, memory: int, vcpus: int) -> None:
        """Count a placed domain as the host would after creating it."""
        self.version += 1
        row = self.row
        domid = max([row.domain_count, *(d.domid for d in row.domains)]) + 1
        dom = DomainRow(row.name, name, domid, ssidref, label, memory, vcpus)
        row.domains.append(dom)
        row.domain_count += 1
        self._index(dom)
        row.free_memory = max(row.free_memory - memory, 0)
        row.available_memory -= memory
        if self.policy is not None:
            for t, (r, a) in self.policy.engine.create_deltas(ssidref).items():
                old = row.counters.get(t, (0, 0))
                row.counters[t] = (old[0] + r, old[1] + a)


# (hosts, half of the ssidref holding the Chinese Wall SSID, SSIDs) -> their domains
BlockersOf = Callable[[Sequence[str], int, Sequence[int]], dict[str, list[DomainRow]]]


class Fleet:
    """Every host of the inventory, ready to judge. With `blockers_of`, the
    hosts come without their domains: only the domains a Chinese Wall
    refusal names are read, for all refused hosts in one query."""

    def __init__(
        self,
        hosts: Sequence[HostRow],
        policies: dict[str, PolicyRow],
        blockers_of: BlockersOf | None = None,
    ) -> None:
        self.hosts: dict[str, FleetHost] = {}
        decoded: dict[str, LoadedPolicy] = {}
        for row in hosts:
            policy = None
            if row.policy_hash is not None and row.policy_hash in policies:
                policy = decoded.get(row.policy_hash)
                if policy is None:
                    policy = decoded[row.policy_hash] = loaded_policy(policies[row.policy_hash])
            self.hosts[row.name] = FleetHost(row, policy, complete=blockers_of is None)
        self.policies = policies
        self.blockers_of = blockers_of
        self._labels: dict[tuple[Any, ...], LabelCheck] = {}
        self._verdicts: dict[str, tuple[int, list[Refusal]]] = {}
        self._decisions: dict[tuple[str, int, int], CreateDecision] = {}
        self._alike: dict[tuple[str | None, int, tuple[tuple[int, int], ...]], CreateDecision] = {}

    def read_blockers(self, wanted: Sequence[tuple[FleetHost, Sequence[int]]]) -> None:
        """The running domains of these Chinese Wall SSIDs on these hosts:
        one query per policy and set of SSIDs."""
        if self.blockers_of is None:
            return
        groups: dict[tuple[int, tuple[int, ...]], list[FleetHost]] = {}
        for fh, ssids in wanted:
            missing = fh.missing(ssids)
            if missing and fh.policy is not None and fh.policy.engine.chwall_half is not None:
                key = (fh.policy.engine.chwall_half, tuple(sorted(missing)))
                groups.setdefault(key, []).append(fh)
        for (half, ssids), hosts in groups.items():
            found = self.blockers_of([fh.row.name for fh in hosts], half, ssids)
            for fh in hosts:
                fh.known(ssids, found.get(fh.row.name, []))

    def _blocking(self, fh: FleetHost, spec: DomainSpec) -> list[int]:
        """The Chinese Wall SSIDs whose running domains make the host's
        engine refuse `spec` there (none: no such refusal)."""
        if fh.policy is None or fh.complete:
            return []
        label = self._label(fh, spec)
        if not label.permitted:
            return []
        decision = self._decide(fh, label.ssidref)
        engine = fh.policy.engine
        return sorted({s for c in decision.conflicts for s in engine.blocking_ssids(c)})

    def _decide(self, fh: FleetHost, ssidref: int) -> CreateDecision:
        """The host's engine on the host's counters (once per host state)."""
        key = (fh.row.name, fh.version, ssidref)
        known = self._decisions.get(key)
        if known is not None:
            return known
        assert fh.policy is not None
        engine = fh.policy.engine
        counters = fh.row.counters
        aggregate = {t: counters.get(t, (0, 0))[1] for t in engine.chwall_types(ssidref)}
        # the engine's answer depends on the policy and these counts alone:
        # hosts alike in them (most of a large fleet) share one answer
        alike = (fh.row.policy_hash, ssidref, tuple(aggregate.items()))
        decision = self._alike.get(alike)
        if decision is None:
            decision = self._alike[alike] = engine.check_create(ssidref, aggregate)
        self._decisions[key] = decision
        return decision

    # ------------------------------------------------------------ one host

    def judge(self, fh: FleetHost, spec: DomainSpec, live_devices: bool = True) -> list[Refusal]:
        """Every hard rule for `spec` on this host; no refusal: it fits."""
        from xm_core.host.store import PolicyState

        row = fh.row
        refusals: list[Refusal] = []
        label = self._label(fh, spec)
        if not label.permitted:
            refusals.append(self._label_refusal(fh, spec, label))
        elif fh.policy is not None:
            refusals.extend(self._chwall(fh, label.ssidref))
        if spec.memory > row.available_memory:
            refusals.append(Refusal(Rule.MEMORY, f"memory: {memory_shortage(spec.memory, row)}"))
        if spec.vcpus > row.nr_cpus:
            refusals.append(
                Refusal(Rule.VCPUS, f"vcpus: needs {spec.vcpus}, the host has {row.nr_cpus} CPUs")
            )
        if not refusals and spec.devices and live_devices:
            refusals.extend(self._devices(fh, spec, PolicyState(row.policy_state), label.ssidref))
        return refusals

    def _label(self, fh: FleetHost, spec: DomainSpec) -> LabelCheck:
        """The host's `resolve_label`, once per policy and label."""
        from xm_core.host.domains import resolve_label
        from xm_core.host.store import PolicyState

        key = (fh.row.policy_hash or fh.row.policy_state, spec.access, spec.ssidref)
        found = self._labels.get(key)
        if found is None:
            found = resolve_label(fh.host, fh.policy, PolicyState(fh.row.policy_state), spec)
            self._labels[key] = found
        return found

    def _label_refusal(self, fh: FleetHost, spec: DomainSpec, label: LabelCheck) -> Refusal:
        row = fh.row
        running = self._policy_shown(row)
        if spec.access is not None and (fh.policy is None or spec.access[0] != fh.policy.name):
            return Refusal(
                Rule.POLICY,
                f"policy differs: the domain's label is under {spec.access[0]}, "
                f"the host runs {running}",
                (label.message,),
            )
        if spec.access is not None and label.message.startswith("Label "):
            return Refusal(
                Rule.LABEL,
                f"label {spec.access[1]} is not in that host's policy {running}",
                (label.message,),
            )
        return Refusal(Rule.LABEL, f"label: {label.message}", (label.message,))

    def _policy_shown(self, row: HostRow) -> str:
        if row.policy_hash is None:
            return row.active_policy
        version = (
            self.policies[row.policy_hash].version if row.policy_hash in self.policies else None
        )
        suffix = f" version {version}" if version else ""
        return f"{row.active_policy}{suffix} ({row.policy_hash[:12]})"

    def _chwall(self, fh: FleetHost, ssidref: int) -> list[Refusal]:
        """The host's engine on the host's counters."""
        from xm_core.host.domains import chwall_explanation

        policy = fh.policy
        assert policy is not None
        engine = policy.engine
        decision = self._decide(fh, ssidref)
        if decision.permitted:
            return []
        needed = sorted({s for c in decision.conflicts for s in engine.blocking_ssids(c)})
        if fh.missing(needed):
            self.read_blockers([(fh, needed)])
        if not decision.conflicts:
            rule = (
                Rule.STE
                if all(r.startswith("ste_") for r in decision.reasons)
                else (Rule.CHINESE_WALL)
            )
            return [Refusal(rule, f"{rule.value}: {'; '.join(decision.reasons)}", decision.reasons)]
        decision = engine.explain(decision, fh.running)
        names = engine.names
        refusals = []
        for c in decision.conflicts:
            sets = ", ".join(names.conflict_set(s) for s in c.conflict_sets)
            who = ", ".join(f"'{b.name}' (label {fh.label_of(b.domid)})" for b in c.blockers)
            refusals.append(
                Refusal(
                    Rule.CHINESE_WALL,
                    f"Chinese Wall: conflict set {sets} with domain {who or '(none found)'} "
                    "running there",
                    tuple(chwall_explanation(policy, decision)),
                )
            )
        return refusals

    def _devices(self, fh: FleetHost, spec: DomainSpec, state: Any, ssidref: int) -> list[Refusal]:
        """The host's `check_device` against the host itself: its resource
        labels and its backend domains are the host's."""
        from xm_core.host.devices import check_device
        from xm_core.host.model import Host

        refusals = []
        with Host(HostPaths(Path(fh.row.root))) as host:
            labels = host.resource_labels()
            with host.store.read():
                policy = host.policy()
                for dev in spec.devices:
                    check = check_device(host, policy, state, ssidref, dev, labels)
                    if not check.permitted:
                        what = dev.display
                        refusals.append(
                            Refusal(Rule.STE, f"STE: {what}: {check.message}", (check.message,))
                        )
        return refusals

    # ------------------------------------------------------------ the order

    def place(
        self,
        spec: DomainSpec,
        names: Sequence[str],
        preference: Preference = Preference.SPREAD,
        zone: str | None = None,
        exclude: Sequence[str] = (),
        live_devices: bool = True,
    ) -> list[Placement]:
        """One placement per name, one after the other: each counts the
        domains placed before it, as the hosts would."""
        hosts_in_zone: Counter[str] = Counter(fh.row.zone for fh in self.hosts.values())
        domains_in_zone: Counter[str] = Counter()
        for fh in self.hosts.values():
            domains_in_zone[fh.row.zone] += max(fh.row.domain_count - 1, 0)  # Domain-0 aside
        load = {z: domains_in_zone[z] / hosts_in_zone[z] for z in hosts_in_zone}
        out = []
        self._verdicts, self._decisions = {}, {}
        for name in names:
            fits: list[FleetHost] = []
            refused: list[Verdict] = []
            self.read_blockers(
                [
                    (fh, self._blocking(fh, spec))
                    for n, fh in self.hosts.items()
                    if n not in exclude and not fh.complete and not self._still(n, fh)
                ]
            )
            for host_name, fh in self.hosts.items():
                if host_name in exclude:
                    continue
                if self._still(host_name, fh):
                    refusals = self._verdicts[host_name][1]  # nothing placed there since
                else:
                    refusals = self.judge(fh, spec, live_devices)
                    self._verdicts[host_name] = (fh.version, refusals)
                if refusals:
                    refused.append(Verdict(host_name, fh.row.zone, refusals))
                else:
                    fits.append(fh)
            fits.sort(key=lambda fh: self._rank(fh, preference, zone, load))
            label = self._label(fits[0], spec) if fits else None
            placement = Placement(
                name,
                spec.access[1] if spec.access else None,
                spec.memory,
                spec.vcpus,
                fits[0].row.name if fits else None,
                [fh.row.name for fh in fits],
                refused,
            )
            out.append(placement)
            if fits and label is not None:
                chosen = fits[0]
                chosen.add(name, label.ssidref, label.label, spec.memory, spec.vcpus)
                load[chosen.row.zone] += 1 / hosts_in_zone[chosen.row.zone]
        return out

    def _still(self, name: str, fh: FleetHost) -> bool:
        """The host's verdict of this batch holds (nothing placed there since)."""
        known = self._verdicts.get(name)
        return known is not None and known[0] == fh.version

    @staticmethod
    def _rank(
        fh: FleetHost, preference: Preference, zone: str | None, load: dict[str, float]
    ) -> tuple[Any, ...]:
        """Soft preferences: the zone asked for; then pack (least free memory
        first) or spread (the zone with the fewest domains per host, then the
        most free memory)."""
        row = fh.row
        wanted = 0 if zone is None or row.zone == zone else 1
        if preference is Preference.PACK:
            return (wanted, row.available_memory, row.name)
        return (wanted, round(load[row.zone], 9), -row.available_memory, row.domain_count, row.name)
