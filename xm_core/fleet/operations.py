"""What `xm fleet` does: the inventory's hosts, placement, and acting on it
through each host's own create, destroy and migrate.

Authority: a host decides what runs on it (its own store, its own checks,
its own create is the final word); the inventory is the fleet's copy, used
to choose. Whoever acts on a host holds that host's inventory row (see
`xm_core.fleet.store`), re-reads the host first, decides on what it read,
acts through the host, and writes back what the host then says. A refusal
by the host (another scheduler, or a plain `xm create` there, got in first)
corrects the inventory and moves on to the next host.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import UsageError, XmError
from xm_core.files.paths import HostPaths
from xm_core.fleet.hoststate import HostReading, loaded_policy, read_host, read_hosts
from xm_core.fleet.placement import Fleet, FleetHost, Placement, Preference, Refusal, Rule
from xm_core.fleet.store import DomainRow, FleetStore, HostRow, PolicyRow

if TYPE_CHECKING:
    from xm_core.host.domains import DomainSpec

_HOST_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


# ------------------------------------------------------------------ the inventory


@dataclass
class InitResult:
    store: str
    backend: str
    schema_version: int

    def as_dict(self) -> dict[str, Any]:
        return {"store": self.store, "backend": self.backend, "schema_version": self.schema_version}


def init_fleet(url: str) -> InitResult:
    with FleetStore.init(url) as store:
        return InitResult(
            store.shown.strip("'"),
            "postgresql" if store.postgres else "sqlite",
            store.schema_version(),
        )


def _check_host_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _HOST_NAME_CHARS or name[0] in "-.":
        raise UsageError(
            f"Invalid host name '{name}': letters, digits, '-', '_' and '.', up to 64, "
            "not starting with '-' or '.'"
        )
    return name


def _write_reading(store: FleetStore, reading: HostReading) -> None:
    if reading.policy is not None:
        store.put_policy(reading.policy)
    store.update_host(reading.row)


def add_host(store: FleetStore, name: str, root: str, zone: str = "") -> HostRow:
    """Read the host at ROOT and keep it in the inventory under NAME."""
    _check_host_name(name)
    if zone and (len(zone) > 64 or "\0" in zone):
        raise UsageError("--zone: up to 64 characters")
    path = Path(root)
    if not path.is_dir():
        raise XmError(f"Host root '{root}' is not a directory")
    absolute = str(path.resolve())
    with store.transaction():
        if store.host(name) is not None:
            raise XmError(f"Host '{name}' is already in the fleet")
        other = store.host_by_root(absolute)
        if other is not None:
            raise XmError(f"Host root '{absolute}' is already in the fleet as '{other}'")
        reading = read_host(name, absolute, zone)
        if reading.policy is not None:
            store.put_policy(reading.policy)
        reading.row.revision = 1
        store.insert_host(reading.row)
    return reading.row


def remove_host(store: FleetStore, name: str) -> HostRow:
    """Forget a host (the host itself and its domains are left as they are)."""
    with store.transaction():
        row = store.host(name, lock=True)
        if row is None:
            raise XmError(f"Host '{name}' is not in the fleet")
        store.remove_host(name)
    return row


@dataclass
class HostsReport:
    store: str
    hosts: list[HostRow]
    policies: dict[str, PolicyRow]
    blocked: dict[str, list[str]]  # per host: Chinese Wall types a new domain may not hold

    def as_dict(self) -> dict[str, Any]:
        out = []
        for h in self.hosts:
            pol = self.policies.get(h.policy_hash or "")
            out.append(
                {
                    "name": h.name,
                    "root": h.root,
                    "zone": h.zone,
                    "policy": h.active_policy,
                    "policy_version": pol.version if pol else None,
                    "policy_hash": h.policy_hash,
                    "memory_total": h.total_memory,
                    "memory_free": h.free_memory,
                    "memory_available": h.available_memory,
                    "vcpus": h.nr_cpus,
                    "domains": [
                        {"name": d.name, "domid": d.domid, "label": d.label, "memory": d.memory}
                        for d in h.domains
                    ],
                    "blocked_types": self.blocked.get(h.name, []),
                    "revision": h.revision,
                    "synced_at": h.synced_at,
                }
            )
        return {"store": self.store, "hosts": out}


def blocked_types(fh: FleetHost) -> list[str]:
    """The Chinese Wall types whose conflict aggregate is raised on this
    host: a domain holding one of them would be refused there."""
    if fh.policy is None:
        return []
    names = fh.policy.engine.names
    return [names.chwall_type(t) for t, (_, a) in sorted(fh.row.counters.items()) if a > 0]


def list_hosts(store: FleetStore) -> HostsReport:
    with store.snapshot():
        hosts = store.hosts()
        policies = store.policies()
    fleet = Fleet(hosts, policies)
    blocked = {name: blocked_types(fh) for name, fh in fleet.hosts.items()}
    return HostsReport(store.shown.strip("'"), hosts, policies, blocked)


def load_fleet(store: FleetStore) -> Fleet:
    """The inventory's hosts, their domains read only where a placement
    needs them (through the same connection). Call it inside the
    `store.snapshot()` its placement runs in: those later reads must see
    the same commit as the hosts' rows."""
    return Fleet(store.hosts(with_domains=False), store.policies(), store.blockers_of)


# ------------------------------------------------------------------ placement


def read_spec(config: str, overrides: Sequence[str], need_name: bool) -> tuple[str, DomainSpec]:
    """The config (a file here; never executed) checked as the host's create
    checks it; (its absolute path, the spec)."""
    from xm_core.files.config import load_config
    from xm_core.host.domains import domain_spec

    path = Path(config)
    if not path.is_file() and config != os.devnull:
        raise XmError(f"Config file '{config}' not found.")
    absolute = str(path.absolute())
    cfg = load_config(HostPaths(path.absolute().parent), absolute, tuple(overrides))
    return absolute, domain_spec(cfg, need_name=need_name)


def batch_names(name: str | None, count: int) -> list[str]:
    base = name or "domain"
    return [base] if count == 1 else [f"{base}-{i}" for i in range(1, count + 1)]


def place(
    store: FleetStore,
    config: str,
    overrides: Sequence[str] = (),
    count: int = 1,
    preference: Preference = Preference.SPREAD,
    zone: str | None = None,
) -> list[Placement]:
    """Where COUNT domains of CONFIG would go, one after the other; nothing
    is changed."""
    if count < 1:
        raise UsageError("--count: at least 1")
    _, spec = read_spec(config, overrides, need_name=False)
    with store.snapshot():  # no write lock: answers while a create holds it
        fleet = load_fleet(store)
        if not fleet.hosts:
            raise XmError("The fleet has no hosts: add one with 'xm fleet add-host NAME ROOT'")
        return fleet.place(spec, batch_names(spec.name, count), preference, zone)


# ------------------------------------------------------------------ acting on a host


@dataclass
class Attempt:
    """A host tried after the inventory chose it, and why it did not take it."""

    host: str
    refusals: list[Refusal]

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "refusals": [r.as_dict() for r in self.refusals]}


class Held(dict[str, HostReading]):
    """The hosts held, each as read from itself; `errors`: the hosts that
    could not be read (a damaged store, a root gone), with the reason."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}

    def need(self, name: str) -> HostReading:
        """The reading of a host the caller cannot do without."""
        if name in self.errors:
            raise XmError(f"Host '{name}' cannot be read: {self.errors[name]}")
        if name not in self:
            raise XmError(f"Host '{name}' is not in the fleet")
        return self[name]


@contextmanager
def holding(store: FleetStore, names: Sequence[str], skip_locked: bool = False) -> Iterator[Held]:
    """One transaction holding these hosts' inventory rows (in name order,
    so that two schedulers never wait on each other in a circle), each host
    re-read from the host itself and written back: the inventory is
    corrected before anything is decided. `skip_locked`: a host another
    scheduler holds is left out (not waited for)."""
    with store.transaction():
        readings = Held()
        for name in sorted(set(names)):
            row = store.host(name, lock=True, skip_locked=skip_locked)
            if row is None:
                continue  # removed meanwhile, or busy
            try:
                reading = read_host(row.name, row.root, row.zone)
            except XmError as exc:
                readings.errors[name] = exc.message
                continue
            _write_reading(store, reading)
            readings[name] = reading
        yield readings


def _refresh(store: FleetStore, reading: HostReading) -> HostReading:
    fresh = read_host(reading.row.name, reading.row.root, reading.row.zone)
    _write_reading(store, fresh)
    return fresh


def _fresh_fleet(readings: Sequence[HostReading]) -> Fleet:
    policies = {r.policy.hash: r.policy for r in readings if r.policy is not None}
    return Fleet([r.row for r in readings], policies)


def _host_refusal(exc: XmError) -> Refusal:
    details = tuple(getattr(exc, "details", ()) or ())
    return Refusal(Rule.HOST, f"the host refused: {exc.message}", tuple(d.strip() for d in details))


@dataclass
class CreateReport:
    name: str
    host: str | None
    domid: int | None
    placement: Placement
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.host is not None,
            "host": self.host,
            "domid": self.domid,
            "attempts": [a.as_dict() for a in self.attempts],
            "placement": self.placement.as_dict(),
        }


def create(
    store: FleetStore,
    config: str,
    overrides: Sequence[str] = (),
    preference: Preference = Preference.SPREAD,
    zone: str | None = None,
) -> CreateReport:
    """Place the domain and create it through the chosen host's own create;
    on a refusal the next host is tried."""
    absolute, spec = read_spec(config, overrides, need_name=True)
    assert spec.name is not None
    # the advice, read without the write lock; every decision is taken
    # again under it, per attempt (`_try_create`)
    with store.snapshot():
        fleet = load_fleet(store)
        where = sorted({d.host for d in store.find_domain(spec.name)})
        if where:
            raise XmError(f"Domain '{spec.name}' already exists on host {', '.join(where)}.")
        placement = fleet.place(spec, [spec.name], preference, zone, live_devices=False)[0]
    report = CreateReport(spec.name, None, None, placement)
    # First pass: hosts another scheduler is working on are skipped, not
    # waited for (all schedulers rank alike and would queue on the best
    # host); second pass: those, waiting for each in turn.
    busy: list[str] = []
    for candidate in placement.candidates:
        if _try_create(store, report, candidate, spec, absolute, overrides, skip_locked=True):
            return report
        if report.attempts and report.attempts[-1].host == candidate:
            continue
        busy.append(candidate)
    for candidate in busy:
        if _try_create(store, report, candidate, spec, absolute, overrides, skip_locked=False):
            return report
    return report


def _try_create(
    store: FleetStore,
    report: CreateReport,
    candidate: str,
    spec: DomainSpec,
    config: str,
    overrides: Sequence[str],
    skip_locked: bool,
) -> bool:
    """Hold the domain's name and then `candidate`, re-read it, judge,
    create through the host; True when the domain was created. A refusal is
    added to the report's attempts; a busy host (skipped) or one gone adds
    nothing. A name running anywhere in the fleet stops the create."""
    assert spec.name is not None
    where: list[str] = []
    created = False
    with store.transaction():
        # The name first (never while holding a host row, so no scheduler
        # waits for a name while others wait for its host), then checked
        # fleet-wide: another scheduler that created it on another host has
        # committed before this lock is ours, and its domain is seen here.
        store.hold_name(spec.name)
        where = sorted({d.host for d in store.find_domain(spec.name)})
        if not where:
            with holding(store, [candidate], skip_locked=skip_locked) as readings:
                reading = readings.get(candidate)
                if candidate in readings.errors:
                    why = f"the host cannot be read: {readings.errors[candidate]}"
                    report.attempts.append(Attempt(candidate, [Refusal(Rule.HOST, why)]))
                    return False
                if reading is None:
                    return False
                # a plain `xm create` there that the inventory had not seen
                # (now it has): the name is taken; no second domain of it
                if any(d.name == spec.name for d in reading.row.domains):
                    where = [candidate]
                else:
                    created = _create_on(store, report, reading, spec, config, overrides)
    if where:
        raise XmError(f"Domain '{spec.name}' already exists on host {', '.join(where)}.")
    return created


def _create_on(
    store: FleetStore,
    report: CreateReport,
    reading: HostReading,
    spec: DomainSpec,
    config: str,
    overrides: Sequence[str],
) -> bool:
    """Inside the host's hold: the rules on the host's fresh state, then the
    host's own create (the final word); the host read again after."""
    from xm_core.host.domains import create_domain

    name = reading.row.name
    fresh = _fresh_fleet([reading])
    refusals = fresh.judge(fresh.hosts[name], spec)
    if refusals:
        report.attempts.append(Attempt(name, refusals))
        return False
    try:
        outcome = create_domain(HostPaths(Path(reading.row.root)), config, overrides)
    except XmError as exc:
        report.attempts.append(Attempt(name, [_host_refusal(exc)]))
        _refresh(store, reading)
        return False
    _refresh(store, reading)
    report.host = name
    report.domid = outcome.domain.domid if outcome.domain else None
    return True


@dataclass
class DestroyReport:
    name: str
    host: str
    domid: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "domid": self.domid}


def _locate(store: FleetStore, domain: str, host: str | None) -> DomainRow:
    rows = store.find_domain(domain)
    if host is not None:
        rows = [r for r in rows if r.host == host]
    if not rows:
        where = f" on host '{host}'" if host else ""
        raise XmError(f"Domain '{domain}' is not in the fleet's inventory{where}")
    if len(rows) > 1:
        hosts = ", ".join(r.host for r in rows)
        raise XmError(f"Domain '{domain}' runs on several hosts ({hosts}): give --host HOST")
    if rows[0].domid == 0:
        raise XmError(f"Domain '{domain}' is a host's Domain-0: it stays where it is")
    return rows[0]


def destroy(store: FleetStore, domain: str, host: str | None = None) -> DestroyReport:
    """Destroy a domain through its host's own destroy."""
    from xm_core.host.domains import destroy_domain

    row = _locate(store, domain, host)
    with holding(store, [row.host]) as readings:
        reading = readings.need(row.host)
        dom = destroy_domain(HostPaths(Path(reading.row.root)), domain)
        _refresh(store, reading)
    return DestroyReport(dom.name, row.host, dom.domid)


# ------------------------------------------------------------------ migrate and evacuate


def _spec_of_row(row: DomainRow, policy: str | None) -> DomainSpec:
    """What the domain asks of a destination, from the host's record of it:
    its label (never its ssidref, as the host's migrate does), its sizes.
    Its devices are checked by the host's own migrate."""
    from xm_core.host.domains import DomainSpec

    access = (policy, row.label) if row.label and policy else None
    return DomainSpec(
        row.name,
        row.memory,
        row.memory,
        row.vcpus,
        access,
        None if access else row.ssidref,
        [],
        {},
        f"domain '{row.name}'",
    )


@dataclass
class MoveReport:
    name: str
    source: str
    target: str | None
    domid: int | None
    placement: Placement | None
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.source,
            "to": self.target,
            "moved": self.target is not None,
            "domid": self.domid,
            "attempts": [a.as_dict() for a in self.attempts],
            "refused": [v.as_dict() for v in self.placement.refused] if self.placement else [],
        }


def migrate(
    store: FleetStore,
    domain: str,
    to: str | None = None,
    host: str | None = None,
    preference: Preference = Preference.SPREAD,
) -> MoveReport:
    """Move a domain to HOST (checked with the fleet's rules first), or to
    the host placement picks; through the source host's own migrate."""
    from xm_core.host.lifecycle import migrate_domain

    with store.snapshot():  # the advice; each move is decided again under the hosts' locks
        row = _locate(store, domain, host)
        fleet = load_fleet(store)
        source = fleet.hosts.get(row.host)
        if source is None:
            raise XmError(f"Host '{row.host}' is not in the fleet")
        if to is not None:
            if to not in fleet.hosts:
                raise XmError(f"Host '{to}' is not in the fleet")
            if to == row.host:
                raise XmError(f"Domain '{domain}' already runs on host '{to}'")
        spec = _spec_of_row(row, source.policy.name if source.policy else None)
        others = [n for n in fleet.hosts if n != row.host and (to is None or n == to)]
        only = {n: fleet.hosts[n] for n in others}
        fleet.hosts = only
        placement = fleet.place(spec, [row.name], preference)[0]
    report = MoveReport(row.name, row.host, None, None, placement)
    for candidate in placement.candidates:
        with holding(store, [row.host, candidate]) as readings:
            src, dst = readings.need(row.host), readings.get(candidate)
            if candidate in readings.errors:
                why = f"the host cannot be read: {readings.errors[candidate]}"
                report.attempts.append(Attempt(candidate, [Refusal(Rule.HOST, why)]))
                continue
            if dst is None:
                continue
            if not any(d.name == row.name for d in src.row.domains):
                raise XmError(f"Domain '{row.name}' no longer runs on host '{row.host}'")
            fresh = _fresh_fleet([dst])
            refusals = fresh.judge(fresh.hosts[candidate], spec)
            if refusals:
                report.attempts.append(Attempt(candidate, refusals))
                continue
            try:
                moved = migrate_domain(HostPaths(Path(src.row.root)), row.name, dst.row.root)
            except XmError as exc:
                report.attempts.append(Attempt(candidate, [_host_refusal(exc)]))
                _refresh(store, dst)
                continue
            _refresh(store, src)
            _refresh(store, dst)
            report.target = candidate
            report.domid = moved.target_domid
            return report
    return report


@dataclass
class EvacuateReport:
    host: str
    moves: list[MoveReport]

    @property
    def complete(self) -> bool:
        return all(m.target is not None for m in self.moves)

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "complete": self.complete,
            "domains": [m.as_dict() for m in self.moves],
        }


def evacuate(
    store: FleetStore, host: str, preference: Preference = Preference.SPREAD
) -> EvacuateReport:
    """Move every domain of HOST elsewhere, largest first (the hardest to
    fit), or say per domain why it cannot move."""
    with holding(store, [host]) as readings:
        reading = readings.need(host)
    domains = sorted(
        (d for d in reading.row.domains if d.domid != 0), key=lambda d: (-d.memory, d.name)
    )
    return EvacuateReport(host, [migrate(store, d.name, None, host, preference) for d in domains])


# ------------------------------------------------------------------ audit and sync


@dataclass(frozen=True)
class Finding:
    host: str
    kind: str  # policy | co-residence | drift | unreadable | duplicate-name
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "message": self.message}


@dataclass
class AuditReport:
    fleet_policy: str | None  # name (hash prefix) the most hosts run
    hosts: int
    findings: list[Finding]

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet_policy": self.fleet_policy,
            "hosts": self.hosts,
            "clean": self.clean,
            "findings": [f.as_dict() for f in self.findings],
        }


def fleet_policy(hosts: Sequence[HostRow]) -> str | None:
    """The fleet's policy: the compiled policy most hosts run (ties: the
    first in name order)."""
    counts = Counter(h.policy_hash for h in hosts if h.policy_hash is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min(
        (h for h in hosts if h.policy_hash and counts[h.policy_hash] == top), key=lambda h: h.name
    ).policy_hash


def _drift(kept: HostRow, now: HostRow) -> list[str]:
    found = []
    if (kept.policy_state, kept.policy_hash) != (now.policy_state, now.policy_hash):
        found.append(
            f"policy: inventory has {kept.active_policy}, the host runs {now.active_policy}"
        )
    ours = {d.name: d for d in kept.domains}
    theirs = {d.name: d for d in now.domains}
    for name in sorted(theirs.keys() - ours.keys()):
        found.append(f"domain '{name}' runs on the host, not in the inventory")
    for name in sorted(ours.keys() - theirs.keys()):
        found.append(f"domain '{name}' is in the inventory, not on the host")
    for name in sorted(ours.keys() & theirs.keys()):
        a, b = ours[name], theirs[name]
        if (a.domid, a.ssidref, a.label, a.memory, a.vcpus) != (
            b.domid, b.ssidref, b.label, b.memory, b.vcpus,
        ):  # fmt: skip
            found.append(
                f"domain '{name}' differs (id {a.domid} -> {b.domid}, "
                f"memory {a.memory} -> {b.memory})"
            )
    if (kept.free_memory, kept.available_memory, kept.total_memory, kept.nr_cpus) != (
        now.free_memory, now.available_memory, now.total_memory, now.nr_cpus,
    ):  # fmt: skip
        found.append(
            f"memory: inventory has {kept.free_memory} MiB free of {kept.total_memory}, "
            f"the host {now.free_memory} of {now.total_memory}"
        )
    return found


def _co_residence(host: str, reading: HostReading, target: PolicyRow) -> list[Finding]:
    """Under the fleet's policy, the host's running domains as Xen's
    `chwall_init_state` walks them (the host engine's `chwall_walk`)."""
    from acm.engine import RunningDomain
    from acm.errors import PolicyError
    from acm.ssidref import label_to_ssidref

    policy = loaded_policy(target)
    findings = []
    running = []
    labels = {}
    for d in reading.row.domains:
        if d.domid == 0 or not d.label:
            continue
        try:
            running.append(
                RunningDomain(d.domid, d.name, label_to_ssidref(policy.map, d.label, "dom"))
            )
            labels[d.domid] = d.label
        except PolicyError:
            findings.append(
                Finding(
                    host,
                    "co-residence",
                    f"domain '{d.name}': label {d.label} is not in {target.name}",
                )
            )
    if policy.engine.chwall is None:
        return findings
    walk = policy.engine.chwall_walk(running)
    names = policy.engine.names
    for c in walk.conflicts:
        sets = ", ".join(names.conflict_set(s) for s in c.conflict_sets)
        findings.append(
            Finding(
                host,
                "co-residence",
                f"domain '{c.name}' (label {labels.get(c.domid)}) may not run beside the domains "
                f"before it under {target.name}: conflict set {sets}",
            )
        )
    return findings


def _duplicate_names(readings: dict[str, HostReading]) -> list[Finding]:
    """A domain name running on several hosts (a name runs once in the
    fleet; only plain `xm create`s behind the fleet's back make two), per
    host, naming the others. Domain-0 runs on every host."""
    hosts_of: dict[str, list[str]] = {}
    for host, reading in sorted(readings.items()):
        for d in reading.row.domains:
            if d.domid != 0:
                hosts_of.setdefault(d.name, []).append(host)
    return [
        Finding(
            host,
            "duplicate-name",
            f"domain '{name}' also runs on host {', '.join(h for h in hosts if h != host)}",
        )
        for name, hosts in sorted(hosts_of.items())
        if len(hosts) > 1
        for host in hosts
    ]


def audit(store: FleetStore) -> AuditReport:
    """Hosts off the fleet's policy, co-residence that policy forbids,
    inventory that drifted from the hosts' own state, and names running on
    several hosts. Nothing is changed."""
    with store.snapshot():
        hosts = store.hosts()
        policies = store.policies()
    target_hash = fleet_policy(hosts)
    target = policies.get(target_hash or "")
    findings: list[Finding] = []
    readings = read_hosts(hosts)
    for kept in hosts:
        reading = readings[kept.name]
        if isinstance(reading, XmError):
            findings.append(Finding(kept.name, "unreadable", reading.message))
            continue
        now = reading.row
        findings.extend(Finding(kept.name, "drift", text) for text in _drift(kept, now))
        if target is not None and now.policy_hash != target.hash:
            findings.append(
                Finding(
                    kept.name,
                    "policy",
                    f"runs {now.active_policy}, the fleet's policy is {target.name} "
                    f"({target.hash[:12]})",
                )
            )
            findings.extend(_co_residence(kept.name, reading, target))
    findings.extend(
        _duplicate_names({h: r for h, r in readings.items() if not isinstance(r, XmError)})
    )
    shown = f"{target.name} ({target.hash[:12]})" if target else None
    return AuditReport(shown, len(hosts), findings)


@dataclass
class SyncReport:
    hosts: int
    repaired: dict[str, list[str]]
    unreadable: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"hosts": self.hosts, "repaired": self.repaired, "unreadable": self.unreadable}


def sync(store: FleetStore) -> SyncReport:
    """Read the inventory in one snapshot and every host from itself, and
    repair only the hosts whose state drifted from the inventory's: such a
    host's row is taken (its lock) and the host read again under it, as
    another writer may have repaired or changed it meanwhile; what is
    reported and written is that second look, as before. A host that did
    not drift is neither locked nor written, so a sync that changes nothing
    does not wait for (or hold up) a create."""
    with store.snapshot():
        seen = store.hosts()
    readings = read_hosts(seen)
    report = SyncReport(len(seen), {}, {})
    for kept_then in seen:
        name = kept_then.name
        first = readings[name]
        if isinstance(first, XmError):
            report.unreadable[name] = first.message
            continue
        if not _drift(kept_then, first.row):
            continue
        with store.transaction():
            kept = store.host(name, lock=True)
            if kept is None:
                continue  # removed meanwhile
            try:
                reading = read_host(kept.name, kept.root, kept.zone)
            except XmError as exc:
                report.unreadable[name] = exc.message
                continue
            drift = _drift(kept, reading.row)
            if drift:
                _write_reading(store, reading)
                report.repaired[name] = drift
    if report.unreadable:
        with store.snapshot():  # a host removed meanwhile is not reported
            gone = {h for h in report.unreadable if store.host(h) is None}
        report.unreadable = {h: m for h, m in report.unreadable.items() if h not in gone}
    return report


# ------------------------------------------------------------------ preview a policy


@dataclass
class HostPreview:
    """One host: `impact` (a `HostImpact`: `xm loadpolicy` of a Xen 3.0.4
    policy) or `update` (an `UpdateImpact`: `xm setpolicy --dry-run` of a
    versioned one), or the error that kept it from being read."""

    host: str
    impact: Any = None
    update: Any = None
    error: str = ""

    @property
    def loadable(self) -> bool:
        if self.update is not None:
            return bool(self.update.would_set)
        return self.impact is not None and bool(self.impact.loadable)

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"host": self.host, "error": self.error or None}
        if self.impact is not None:
            doc.update(self.impact.as_dict())
        if self.update is not None:
            plan = self.update.plan
            doc.update(
                {
                    "update": plan.as_dict() if plan is not None else None,
                    "refusal": self.update.refusal or None,
                    "details": [d.strip() for d in self.update.details],
                }
            )
        doc["loadable"] = self.loadable
        return doc


@dataclass
class PreviewReport:
    policy: str
    hosts: list[HostPreview]

    @property
    def loadable_everywhere(self) -> bool:
        return all(h.loadable for h in self.hosts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "loadable_everywhere": self.loadable_everywhere,
            "hosts": [h.as_dict() for h in self.hosts],
        }


def preview_policy(store: FleetStore, file: str) -> PreviewReport:
    """For each host, what `xm loadpolicy` of FILE would do there: the host
    impact of `xm acm diff ACTIVE FILE --host`, run against a copy of each
    host (the hosts are only read)."""
    from acm.analysis.diff import diff_policies
    from acm.analysis.loader import from_compiled, load_policy_file
    from acm.model import CompiledPolicy
    from xm_core.insight.impact import host_impact

    new = load_policy_file(file)
    with store.snapshot():
        hosts = store.hosts(with_domains=False)
        policies = store.policies()
    if _is_versioned(file, new.name):
        return PreviewReport(new.name, _preview_update(hosts, file, new.name))
    olds: dict[str | None, Any] = {}
    previews = []
    for h in hosts:
        try:
            key = h.policy_hash
            if key not in olds:
                row = policies.get(key or "")
                if row is None:
                    olds[key] = new  # no policy loaded: nothing to diff against
                else:
                    loaded = loaded_policy(row)
                    olds[key] = from_compiled(
                        CompiledPolicy(loaded.binary, loaded.map), None, "active policy"
                    )
            impact = host_impact(HostPaths(Path(h.root)), diff_policies(olds[key], new))
            previews.append(HostPreview(h.name, impact=impact))
        except XmError as exc:
            previews.append(HostPreview(h.name, error=exc.message))
    return PreviewReport(new.name, previews)


def _is_versioned(file: str, name: str) -> bool:
    """A policy of Xen 3.4's versioned format (a <Version> in its header),
    as the format's own reader says."""
    from acm.errors import PolicyError
    from acm.versioned.info import read_version_info

    if not file.endswith(".xml"):
        return False
    try:
        return read_version_info(file).versioned
    except PolicyError:
        return False


def _preview_update(hosts: Sequence[HostRow], file: str, name: str) -> list[HostPreview]:
    """`xm setpolicy --dry-run` of a versioned policy on each host (the
    update's own plan: version lineage, renames, every running domain and
    device re-checked). setpolicy reads NAME from the current folder first,
    so FILE is put where it looks, in a folder of our own."""
    import shutil
    import tempfile

    from xm_core.insight.impact import update_impact

    previews = []
    with tempfile.TemporaryDirectory(prefix="xm-fleet-preview-") as tmp:
        target = Path(tmp) / (name.replace(".", "/") + "-security_policy.xml")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        for h in hosts:
            try:
                impact = update_impact(HostPaths(Path(h.root)), name, Path(tmp))
                previews.append(HostPreview(h.name, update=impact))
            except XmError as exc:
                previews.append(HostPreview(h.name, error=exc.message))
    return previews
