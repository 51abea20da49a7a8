"""`xm fleet sync` reads first (the inventory in one snapshot, each host
from itself) and takes a host's lock, and writes, only for a host that
drifted, deciding again under the lock: on the embedded SQLite file and on
PostgreSQL. A sync that finds nothing to repair answers while a `fleet
create` (its own process) holds the write lock; a drifted host is repaired
as before."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fleet_scheduler import start
from tests.fleet_support import (
    config,
    fleet_run,
    two_zone_inventory,
    write_lock_is_held,
    xm_fleet_process,
)
from tests.hosttools import xm_run


@pytest.fixture
def fleet(tmp_path: Path, store_url: str) -> tuple[str, Path]:
    """h1 (zone a) runs a1 (dom_BankA), h2 (zone b) b1 (dom_BankB), both
    created through the fleet: no drift."""
    two_zone_inventory(store_url, tmp_path)
    for name, label, zone in (("a1", "dom_BankA", "a"), ("b1", "dom_BankB", "b")):
        run = fleet_run(store_url, "create", str(config(tmp_path, name, label)), "--zone", zone)
        assert run.code == 0, run.err
    return store_url, tmp_path


def _hosts(store: str) -> dict[str, Any]:
    run = fleet_run(store, "hosts", "--json")
    assert run.code == 0, run.err
    return {h["name"]: h for h in json.loads(run.out)["hosts"]}


def test_a_sync_without_drift_does_not_wait_for_a_create(fleet: tuple[str, Path]) -> None:
    """A `fleet create` stopped inside h1's create, before h1 starts the
    domain, holds the write lock (SQLite's file lock; h1's row on
    PostgreSQL). `xm fleet sync`, typed meanwhile in a process of its own,
    answers that nothing needs repair (before, it waited for h1's lock: on
    SQLite until its busy timeout failed it) and writes no host."""
    store, tmp = fleet
    before = _hosts(store)
    proc = start(
        "paused_create(sys.argv[1], sys.argv[2], 'a', 'before')",
        store,
        str(config(tmp, "web", "dom_Hospital", memory=64)),
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line == "inside\n", line or proc.stderr.read()
        assert write_lock_is_held(store)

        text = xm_fleet_process(store, "sync")
        assert (text.returncode, text.stdout, text.stderr) == (0, "0 of 2 host(s) repaired\n", "")
        as_json = xm_fleet_process(store, "sync", "--json")
        assert as_json.returncode == 0 and as_json.stderr == ""
        assert json.loads(as_json.stdout) == {"hosts": 2, "repaired": {}, "unreadable": {}}

        assert write_lock_is_held(store)  # both answered inside the create's hold
        out, err = proc.communicate("\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.communicate("\n", timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"created": "web", "host": "h1"}
    after = _hosts(store)
    assert after["h2"] == before["h2"]  # not written (same revision, same synced_at)
    assert [d["name"] for d in after["h1"]["domains"]] == ["Domain-0", "a1", "web"]
    assert fleet_run(store, "sync").out == "0 of 2 host(s) repaired\n"


def test_a_drifted_host_is_repaired_as_before(fleet: tuple[str, Path]) -> None:
    """A plain `xm create` on h2 and a plain `xm destroy` of a1 on h1, behind
    the fleet's back: sync names every drift of both hosts (what it reads
    under each host's lock), writes each host's own state into the
    inventory once, and the next sync finds nothing."""
    store, tmp = fleet
    before = _hosts(store)
    assert xm_run(tmp / "h2", "create", str(config(tmp, "plain", "dom_Hospital"))).code == 0
    assert xm_run(tmp / "h1", "destroy", "a1").code == 0

    synced = fleet_run(store, "sync")
    assert synced.code == 0, synced.err
    assert synced.out == (
        "h1: repaired: domain 'a1' is in the inventory, not on the host\n"
        "h1: repaired: memory: inventory has 2816 MiB free of 4096, the host 3072 of 4096\n"
        "h2: repaired: domain 'plain' runs on the host, not in the inventory\n"
        "h2: repaired: memory: inventory has 2816 MiB free of 4096, the host 2560 of 4096\n"
        "2 of 2 host(s) repaired\n"
    )
    after = _hosts(store)
    for name in ("h1", "h2"):
        assert after[name]["revision"] == before[name]["revision"] + 1
    assert [d["name"] for d in after["h1"]["domains"]] == ["Domain-0"]
    assert [d["name"] for d in after["h2"]["domains"]] == ["Domain-0", "b1", "plain"]
    assert fleet_run(store, "audit").code == 0
    again = fleet_run(store, "sync", "--json")
    assert json.loads(again.out) == {"hosts": 2, "repaired": {}, "unreadable": {}}
    assert _hosts(store) == after


def _sync_with(store: str, meanwhile: Any) -> Any:
    """`sync` in this process (its own connection), with `meanwhile()` run
    after it read the hosts and before it takes any host's lock."""
    import xm_core.fleet.operations as operations
    from xm_core.fleet.store import FleetStore

    read_hosts = operations.read_hosts

    def read_then(rows: Sequence[Any]) -> Any:
        readings = read_hosts(rows)
        meanwhile()
        return readings

    with FleetStore.open(store) as conn, pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "read_hosts", read_then)
        return operations.sync(conn)


def test_drift_repaired_meanwhile_is_not_repaired_again(fleet: tuple[str, Path]) -> None:
    """h2 drifted when sync read it; another sync (its own process) repairs
    it before this one takes h2's lock: this one decides again under the
    lock, finds nothing, reports nothing and does not write h2."""
    store, tmp = fleet
    assert xm_run(tmp / "h2", "create", str(config(tmp, "plain", "dom_Hospital"))).code == 0
    other: list[subprocess.CompletedProcess[str]] = []
    report = _sync_with(store, lambda: other.append(xm_fleet_process(store, "sync")))
    assert other[0].returncode == 0, other[0].stderr
    repaired = "h2: repaired: domain 'plain' runs on the host, not in the inventory\n"
    assert repaired in other[0].stdout
    assert report.as_dict() == {"hosts": 2, "repaired": {}, "unreadable": {}}
    revision_after_other = _hosts(store)["h2"]["revision"]
    assert fleet_run(store, "sync").out == "0 of 2 host(s) repaired\n"
    assert _hosts(store)["h2"]["revision"] == revision_after_other


def test_the_repair_is_what_the_host_says_under_the_lock(fleet: tuple[str, Path]) -> None:
    """h2 changes again between sync's first read and its lock (another
    plain `xm create`): the drift reported and written is the second look,
    both domains; a host that did not drift at the first read (h1) is left
    alone even though it drifts meanwhile (the next sync repairs it)."""
    store, tmp = fleet

    def behind_the_back() -> None:
        for root, name in (("h2", "late"), ("h1", "later")):
            run = xm_run(tmp / root, "create", str(config(tmp, name, "dom_Hospital", memory=64)))
            assert run.code == 0, run.err

    assert xm_run(tmp / "h2", "create", str(config(tmp, "plain", "dom_Hospital"))).code == 0
    report = _sync_with(store, behind_the_back)
    assert list(report.repaired) == ["h2"]
    assert report.repaired["h2"][:2] == [
        "domain 'late' runs on the host, not in the inventory",
        "domain 'plain' runs on the host, not in the inventory",
    ]
    after = _hosts(store)
    assert [d["name"] for d in after["h2"]["domains"]] == ["Domain-0", "b1", "plain", "late"]
    assert [d["name"] for d in after["h1"]["domains"]] == ["Domain-0", "a1"]
    synced = fleet_run(store, "sync")
    assert "h1: repaired: domain 'later' runs on the host, not in the inventory\n" in synced.out
    assert synced.out.endswith("1 of 2 host(s) repaired\n")
