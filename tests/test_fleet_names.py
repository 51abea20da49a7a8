"""A domain name runs at most once in the fleet, even when two schedulers
create the same name at the same moment on two different hosts (on the
embedded SQLite file and on a real PostgreSQL server): exactly one starts
it, the other is told in one line which host already runs it."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.fleet_scheduler import start
from tests.fleet_support import (
    TWO_ZONES,
    config,
    fleet_run,
    two_zone_inventory,
)
from tests.hosttools import xm_run

ROUNDS = 12
HOSTS = TWO_ZONES


@pytest.fixture
def two_zones(tmp_path: Path, store_url: str) -> tuple[str, Path]:
    """An inventory with h1 in zone a and h2 in zone b: a scheduler that
    prefers zone a picks h1, one that prefers b picks h2."""
    two_zone_inventory(store_url, tmp_path)
    return store_url, tmp_path


def _running(tmp: Path) -> list[str]:
    """Every domain the hosts themselves run (Domain-0 aside)."""
    names = [line.split()[0] for host in HOSTS for line in xm_run(tmp / host, "list").lines[1:]]
    return sorted(n for n in names if n != "Domain-0")


def _racer(url: str, zone: str, cfg: Path) -> subprocess.Popen[str]:
    proc = start("race(sys.argv[1], sys.argv[2], sys.argv[3])", url, zone, str(cfg))
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n", proc.stderr
    return proc


@pytest.mark.slow
def test_two_schedulers_never_start_one_name_twice(two_zones: tuple[str, Path]) -> None:
    """Two warm scheduler processes, each with its own connection and
    preferring its own zone, get the same new name at once, round after
    round. (Before names were held, PostgreSQL started every one twice.)"""
    store, tmp = two_zones
    cfg = config(tmp, "web", "dom_Hospital", memory=64)
    racers = [_racer(store, zone, cfg) for zone in HOSTS.values()]
    outcomes: list[list[dict[str, str]]] = []
    try:
        for n in range(ROUNDS):
            for p in racers:
                assert p.stdin is not None
                p.stdin.write(f"web{n}\n")
                p.stdin.flush()
            events = []
            for p in racers:
                assert p.stdout is not None
                line = p.stdout.readline()
                assert line, p.stderr
                events.append(json.loads(line))
            outcomes.append(events)
    finally:
        for p in racers:
            p.communicate(timeout=60)
    assert [e for e in outcomes if all("created" in x for x in e)] == []
    for n, events in enumerate(outcomes):
        (winner,) = [e["host"] for e in events if "created" in e]
        (loser,) = [e for e in events if "created" not in e]
        assert loser == {"error": f"Domain 'web{n}' already exists on host {winner}."}
    assert _running(tmp) == sorted(f"web{n}" for n in range(ROUNDS))
    assert fleet_run(store, "audit").code == 0


def test_a_name_started_elsewhere_after_placement_is_refused(
    two_zones: tuple[str, Path],
) -> None:
    """The interleaving of the race, made certain: scheduler B has looked
    the name up (free) and is about to place it in zone b when A types
    `xm fleet create` for the same name in zone a and starts it on h1.
    B, resumed, must not start a second one on h2."""
    from xm_core.errors import XmError
    from xm_core.fleet.operations import create
    from xm_core.fleet.store import DomainRow, FleetStore

    store, tmp = two_zones
    cfg = config(tmp, "web", "dom_Hospital", memory=64)
    looked_up, resume = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def scheduler_b() -> None:
        with FleetStore.open(store) as b:  # its own connection, in its own thread
            first_lookup = b.find_domain

            def lookup_then_wait(name: str) -> list[DomainRow]:
                # B's first look at the name, then a pause that stands for
                # the time between a scheduler's look and its create
                found = first_lookup(name)
                b.find_domain = first_lookup  # type: ignore[method-assign]
                looked_up.set()
                assert resume.wait(60)
                return found

            b.find_domain = lookup_then_wait  # type: ignore[method-assign]
            try:
                outcome["report"] = create(b, str(cfg), zone="b")
            except XmError as exc:
                outcome["error"] = exc.message

    thread = threading.Thread(target=scheduler_b)
    thread.start()
    try:
        assert looked_up.wait(60)
        a = fleet_run(store, "create", str(cfg), "--zone", "a")
    finally:
        resume.set()
        thread.join(60)
    assert a.code == 0 and a.out == "Started domain web on host h1 (id 1)\n", a.err
    assert outcome == {"error": "Domain 'web' already exists on host h1."}
    assert _running(tmp) == ["web"]
    assert fleet_run(store, "audit").code == 0
    run = fleet_run(store, "create", str(cfg), "--zone", "b")  # typed, afterwards: one line
    assert run.code == 1 and run.err == "Error: Domain 'web' already exists on host h1.\n"


def test_audit_names_a_name_running_on_two_hosts(two_zones: tuple[str, Path]) -> None:
    """Only plain `xm create`s behind the fleet's back can start one name on
    two hosts: audit says so on both (after a sync too: the inventory
    records what the hosts run), and the fleet starts no third."""
    store, tmp = two_zones
    cfg = config(tmp, "twin", "dom_Hospital", memory=64)
    for host in HOSTS:
        assert xm_run(tmp / host, "create", str(cfg)).code == 0
    assert fleet_run(store, "sync").code == 0
    audit = fleet_run(store, "audit")
    assert audit.code == 1
    assert audit.lines[-2:] == [
        "h1: duplicate-name: domain 'twin' also runs on host h2",
        "h2: duplicate-name: domain 'twin' also runs on host h1",
    ]
    kinds = [f["kind"] for f in json.loads(fleet_run(store, "audit", "--json").out)["findings"]]
    assert kinds == ["duplicate-name", "duplicate-name"]
    run = fleet_run(store, "create", str(cfg))
    assert run.code == 1 and run.err == "Error: Domain 'twin' already exists on host h1, h2.\n"
    assert _running(tmp) == ["twin", "twin"]
    run = fleet_run(store, "destroy", "twin")
    assert run.code == 1 and "runs on several hosts (h1, h2): give --host HOST" in run.err
    assert fleet_run(store, "destroy", "twin", "--host", "h2").code == 0
    assert fleet_run(store, "audit").code == 0
