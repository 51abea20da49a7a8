"""A host's own state, read from the host: the host is the authority for
what runs on it and under which policy; the inventory keeps a copy.

Also the policies as the fleet decodes them: one `LoadedPolicy` (binary,
map and the host's `Engine`) per compiled policy, built the way the host
builds its own (`Host.policy`), shared by every host that runs it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.fleet.store import DomainRow, HostRow, PolicyRow

if TYPE_CHECKING:
    from xm_core.host.model import LoadedPolicy


@dataclass
class HostReading:
    """What one read of a host gave: its inventory row and its policy."""

    row: HostRow
    policy: PolicyRow | None


def policy_hash(binary: bytes, compact: str, version: str | None = None) -> str:
    """The identity of a loaded policy: what the hypervisor enforces (the
    `.bin`), the names it is read with (the `.map`'s labels and types; not
    where the files were, which differs from host to host) and its version
    (Xen 3.4's versioned policies)."""
    import json

    doc = json.loads(compact)
    names = doc.get("map", {})
    names = {k: v for k, v in names.items() if k not in ("policy_file", "binary_file")}
    digest = hashlib.sha256(binary)
    digest.update(b"\0")
    digest.update(json.dumps(names, sort_keys=True, separators=(",", ":")).encode())
    if version is not None:
        digest.update(b"\0version\0" + version.encode())
    return digest.hexdigest()


def read_host(name: str, root: str, zone: str = "") -> HostReading:
    """Read the host at `root` in one snapshot of its store; its memory
    figures are the host's own (`host_memory`: what `xm info` reports, and
    what its create can get by ballooning Domain-0)."""
    from xm_core.host.memory import host_memory
    from xm_core.host.model import Host, compact_policy
    from xm_core.host.store import PolicyState

    paths = HostPaths(Path(root))
    policy_row: PolicyRow | None = None
    with Host(paths) as host, host.store.read():
        store = host.store
        state, pname, _ = store.policy_state()
        digest: str | None = None
        counters: dict[int, tuple[int, int]] = {}
        if state is PolicyState.NAMED:
            loaded = store.active_binary()
            assert loaded is not None and pname is not None
            compact = store.active_compact()
            if compact is None:
                decoded = host.policy()
                assert decoded is not None
                compact = compact_policy(decoded.binary, decoded.map)
            extra = store.active_extra()
            version = extra.get("version")
            key = (loaded[0], compact, version)
            digest = _HASHES.get(key) or policy_hash(
                loaded[0], compact, None if version is None else str(version)
            )
            _HASHES[key] = digest
            known = _POLICIES.get(digest)
            if known is None:
                policy = host.policy()
                assert policy is not None
                policy_row = PolicyRow(
                    digest,
                    pname,
                    str(version) if version is not None else None,
                    compact,
                    tuple(extra.get("conflict_sets", ())),
                )
                _POLICIES[digest] = (policy_row, policy)
            else:
                policy_row = known[0]
            max_types = _POLICIES[digest][1].engine.chwall
            if max_types is not None:
                counters = {
                    t: c
                    for t, c in store.chwall_counters_of(range(max_types.max_types)).items()
                    if c != (0, 0)
                }
        records = store.domains()
        facts = store.host_facts()
        memory = host_memory(store, paths, records)
    domains = [
        DomainRow(name, d.name, d.domid, d.ssidref, d.label, d.memory, d.vcpus) for d in records
    ]
    row = HostRow(
        name=name,
        root=root,
        zone=zone,
        policy_state=state.value,
        policy_name=pname if state is PolicyState.NAMED else None,
        policy_hash=digest,
        total_memory=memory.total,
        free_memory=memory.free,
        available_memory=memory.available,
        nr_cpus=facts.nr_cpus,
        counters=counters,
        revision=0,
        synced_at=time.time(),
        domains=domains,
        domain_count=len(domains),
    )
    return HostReading(row, policy_row)


READERS = 4  # hosts read at once: their stores are separate files, SQLite waits without the GIL


def read_hosts(rows: Sequence[HostRow]) -> dict[str, HostReading | XmError]:
    """Each host read from itself (a few at once); an unreadable host's
    error in its place."""
    from concurrent.futures import ThreadPoolExecutor

    def one(row: HostRow) -> HostReading | XmError:
        try:
            return read_host(row.name, row.root, row.zone)
        except XmError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return dict(zip((r.name for r in rows), pool.map(one, rows), strict=True))


# hash -> (row, decoded policy); policies are immutable, so a process keeps them
_POLICIES: dict[str, tuple[PolicyRow, LoadedPolicy]] = {}
# (binary, compact, version) as read -> its hash: hosts that run one policy hash it once
_HASHES: dict[tuple[bytes, str, Any], str] = {}


def loaded_policy(row: PolicyRow) -> LoadedPolicy:
    """The policy decoded as the host decodes its own (expand the compact
    form, names from the map and the conflict sets' names)."""
    known = _POLICIES.get(row.hash)
    if known is not None:
        return known[1]
    from acm.engine import Engine, PolicyNames
    from xm_core.host.model import LoadedPolicy, expand_policy

    binary, pmap = expand_policy(row.compact, f"fleet policy {row.name}")
    names = PolicyNames.from_map(pmap, row.conflict_sets)
    policy = LoadedPolicy(row.name, binary, pmap, Engine(binary, names), 0)
    _POLICIES[row.hash] = (row, policy)
    return policy
