"""What `xm top` shows: one snapshot of every domain and of the ACM's
live state (the STE statistics, the Chinese Wall's running types).

Labels and states come from `list_domains`, so `top` and `list --label`
never disagree; the rest is read in one snapshot of the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xm_core.host.domains import list_domains, state_string
from xm_core.host.model import XEN_VERSION, Host
from xm_core.host.store import DOMAIN_STATES, DomainSteStats, SteStats

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths


@dataclass(frozen=True)
class DomainSample:
    domid: int
    name: str
    state: str  # Xen's six letters, `r-----`
    memory: int  # MiB
    maxmem: int  # MiB
    vcpus: int
    ssidref: int
    label: str
    chwall_types: tuple[str, ...]  # the Chinese Wall types of its label
    ste: DomainSteStats  # the STE hooks' decisions with it as subject
    cache_used: int  # filled slots of its 8-slot STE decision cache
    vbds: int
    vifs: int
    up_time: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "name": self.name,
            "state": self.state,
            "memory": self.memory,
            "maxmem": self.maxmem,
            "vcpus": self.vcpus,
            "ssidref": self.ssidref,
            "label": self.label,
            "chwall_types": list(self.chwall_types),
            "ste": {
                "evaluated": self.ste.evaluated,
                "denied": self.ste.denied,
                "cache_hits": self.ste.cache_hits,
                "cache_used": self.cache_used,
            },
            "vbds": self.vbds,
            "vifs": self.vifs,
            "up_time": self.up_time,
        }


@dataclass(frozen=True)
class HostSample:
    at: float
    xen_version: str
    policy: str
    nr_cpus: int
    total_memory: int  # MiB
    ste: SteStats
    running_types: tuple[tuple[str, int], ...]  # Chinese Wall types running, with their count
    domains: list[DomainSample] = field(default_factory=list)

    def state_counts(self) -> dict[str, int]:
        """How many domains are in each of Xen's states."""
        counts = dict.fromkeys(DOMAIN_STATES, 0)
        for d in self.domains:
            for letter, state in zip(d.state, DOMAIN_STATES, strict=True):
                if letter != "-":
                    counts[state] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        s = self.ste
        return {
            "time": self.at,
            "xen_version": self.xen_version,
            "policy": self.policy,
            "nr_cpus": self.nr_cpus,
            "total_memory": self.total_memory,
            # as `xm info` counts it: what no domain holds (Domain-0 included)
            "free_memory": max(self.total_memory - sum(d.memory for d in self.domains), 0),
            "states": self.state_counts(),
            "ste_statistics": {
                "event_channel": {
                    "eval_count": s.ec_eval,
                    "denied_count": s.ec_denied,
                    "cache_hit_count": s.ec_cachehit,
                },
                "grant_table": {
                    "eval_count": s.gt_eval,
                    "denied_count": s.gt_denied,
                    "cache_hit_count": s.gt_cachehit,
                },
            },
            "chwall_running_types": [{"type": t, "running": n} for t, n in self.running_types],
            "domains": [d.as_dict() for d in self.domains],
        }


def sample_host(paths: HostPaths, host: Host | None = None) -> HostSample:
    """One snapshot; `host` (kept open by a refreshing view) saves decoding
    the policy again on every refresh."""
    listed = list_domains(paths)
    own = host is None
    host = Host(paths) if host is None else host
    try:
        store = host.store
        with store.read():
            policy = host.policy()
            facts = store.host_facts()
            ste = store.ste_stats()
            per_domain = store.domain_ste_stats()
            device_counts = store.device_counts()
            caches = store.ste_cache_usage()
            running_types: tuple[tuple[str, int], ...] = ()
            if policy is not None and policy.binary.chwall is not None:
                running, _ = store.chwall_counters(policy.binary.chwall.max_types)
                names = policy.engine.names
                running_types = tuple((names.chwall_type(t), n) for t, n in enumerate(running) if n)
    finally:
        if own:
            host.close()
    now = time.time()
    samples = []
    for d in listed.domains:
        r = d.record
        types: tuple[str, ...] = ()
        if policy is not None:
            names = policy.engine.names
            types = tuple(names.chwall_type(t) for t in policy.engine.chwall_types(r.ssidref))
        samples.append(
            DomainSample(
                domid=r.domid,
                name=r.name,
                state=state_string(r),
                memory=r.memory,
                maxmem=r.maxmem,
                vcpus=r.vcpus,
                ssidref=r.ssidref,
                label=d.label,
                chwall_types=types,
                ste=per_domain.get(r.uuid, DomainSteStats()),
                cache_used=caches.get(r.domid, 0),
                vbds=device_counts.get((r.domid, "vbd"), 0),
                vifs=device_counts.get((r.domid, "vif"), 0),
                up_time=max(now - (facts.booted_at if r.domid == 0 else r.created_at), 0.0),
            )
        )
    version = f"{XEN_VERSION[0]}.{XEN_VERSION[1]}{XEN_VERSION[2]}"
    return HostSample(
        now,
        version,
        listed.policy,
        facts.nr_cpus,
        facts.total_memory,
        ste,
        running_types,
        samples,
    )
