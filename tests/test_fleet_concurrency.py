"""Many schedulers at once on a real PostgreSQL inventory: 16 processes,
each with its own connection, create and destroy domains over 20 hosts for
a bounded time. Then every host's own state is checked against the rules
(no Chinese Wall conflict, no memory over-commit) and against the
inventory (no lost update), and against what the schedulers said they did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet_scheduler import start
from tests.fleet_support import (
    PostgresServer,
    clone_host,
    fleet_run,
    fresh_database,
    make_host,
)

SCHEDULERS = 16
HOSTS = 20
SECONDS = 8.0  # of scheduling, after all sixteen have warmed up


@pytest.mark.slow
def test_sixteen_schedulers_twenty_hosts(tmp_path: Path, postgres: PostgresServer) -> None:
    from acm.engine import RunningDomain
    from xm_core.files.paths import HostPaths
    from xm_core.fleet.store import FleetStore
    from xm_core.host.model import Host

    url = fresh_database(postgres)
    assert fleet_run(url, "init").code == 0
    # 512 MiB free, 828 more from Domain-0 (ballooned down to dom0-min-mem): 2-5 domains a host
    first = make_host(tmp_path / "h00", memory=1536, cpus=4)
    for i in range(HOSTS):
        root = first if i == 0 else clone_host(first, tmp_path / f"h{i:02d}")
        assert fleet_run(url, "add-host", f"h{i:02d}", str(root), "--zone", f"z{i % 4}").code == 0
    configs = tmp_path / "configs"
    configs.mkdir()
    procs = [
        start(
            "main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])",
            url,
            str(i),
            str(SECONDS),
            str(configs),
        )
        for i in range(SCHEDULERS)
    ]
    for p in procs:  # every scheduler warmed up: start them together
        assert p.stdout is not None and p.stdout.readline() == "ready\n", p.stderr
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    created: dict[str, str] = {}
    destroyed: set[str] = set()
    nowhere = 0
    for p in procs:
        out, err = p.communicate(timeout=SECONDS + 60)
        assert p.returncode == 0, err[-2000:]
        for line in out.splitlines():
            event = json.loads(line)
            if "created" in event:
                created[event["created"]] = event["host"]
            elif "destroyed" in event:
                destroyed.add(event["destroyed"])
            else:
                nowhere += 1
    assert len(created) > SCHEDULERS and destroyed and nowhere  # work, and hosts filled up
    alive = {name: host for name, host in created.items() if name not in destroyed}

    with FleetStore.open(url) as store, store.transaction():
        inventory = {h.name: h for h in store.hosts()}
    on_hosts: dict[str, str] = {}
    conflicts, overcommitted, drift = [], [], []
    for name, row in inventory.items():
        with Host(HostPaths(Path(row.root))) as host, host.store.read():
            policy = host.policy()
            assert policy is not None
            domains = host.store.domains()
            facts = host.store.host_facts()
        walk = policy.engine.chwall_walk(
            [RunningDomain(d.domid, d.name, d.ssidref) for d in domains]
        )
        if walk.conflicts:
            conflicts.append((name, [c.name for c in walk.conflicts]))
        labels = {d.label for d in domains}
        if {"dom_BankA", "dom_BankB"} <= labels:
            conflicts.append((name, sorted(str(x) for x in labels)))
        if sum(d.memory for d in domains) > facts.total_memory:
            overcommitted.append(name)
        ours = [(d.name, d.domid, d.ssidref, d.label, d.memory) for d in row.domains]
        theirs = [(d.name, d.domid, d.ssidref, d.label, d.memory) for d in domains]
        if ours != theirs:
            drift.append(name)
        on_hosts.update({d.name: name for d in domains if d.domid != 0})
    assert conflicts == []
    assert overcommitted == []
    assert drift == []
    assert on_hosts == alive  # every create and destroy a scheduler saw is on the hosts
    assert fleet_run(url, "audit").code == 0
