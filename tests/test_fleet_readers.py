"""Commands that only read the inventory (hosts, place, audit,
preview-policy; init of an up-to-date store) answer while a `fleet create`
holds the inventory's write lock inside its host's create, and their
answer is one commit's: on the embedded SQLite file (WAL, a deferred read
transaction) and on PostgreSQL (REPEATABLE READ, READ ONLY). Writers keep
their locks (see test_fleet_names.py and test_fleet_concurrency.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet_scheduler import start
from tests.fleet_support import (
    POLICY_V2_XML,
    TWO_ZONES,
    config,
    fleet_run,
    two_zone_inventory,
    write_lock_is_held,
    xm_fleet_process,
)

HOSTS = TWO_ZONES


@pytest.fixture
def two_banks(tmp_path: Path, store_url: str) -> tuple[str, Path]:
    """h1 (zone a) runs a1 (dom_BankA); h2 (zone b) runs nothing yet."""
    two_zone_inventory(store_url, tmp_path)
    run = fleet_run(store_url, "create", str(config(tmp_path, "a1", "dom_BankA")), "--zone", "a")
    assert run.code == 0 and run.out == "Started domain a1 on host h1 (id 1)\n", run.err
    return store_url, tmp_path


def _answer(store: str, *args: str, code: int = 0) -> Any:
    run = xm_fleet_process(store, *args, "--json")
    assert run.returncode == code and run.stderr == "", run.stderr
    return json.loads(run.stdout)


@pytest.fixture
def paused_create(two_banks: tuple[str, Path]) -> Iterator[subprocess.Popen[str]]:
    """`fleet create web --zone a` in a process of its own, stopped inside
    h1's own create (h1 already runs web; the inventory's write is not
    committed): the write lock held. Resumed and finished afterwards."""
    store, tmp = two_banks
    cfg = config(tmp, "web", "dom_Hospital", memory=64)
    proc = start("paused_create(sys.argv[1], sys.argv[2], 'a')", store, str(cfg))
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line == "inside\n", line or proc.stderr.read()  # at its end: why it stopped
        yield proc
    finally:
        if proc.poll() is None:
            proc.communicate("\n", timeout=120)


def test_readers_answer_while_a_create_holds_the_write_lock(
    two_banks: tuple[str, Path], paused_create: subprocess.Popen[str]
) -> None:
    """hosts, place, audit and preview-policy, each its own process, answer
    while the create is stopped inside its host's create, and each answer
    is the last commit's: the create's uncommitted writes are not in it."""
    store, tmp = two_banks
    assert write_lock_is_held(store)

    hosts = _answer(store, "hosts")
    h1, h2 = hosts["hosts"]
    assert [d["name"] for d in h1["domains"]] == ["Domain-0", "a1"]  # not web, not yet
    assert h1["blocked_types"] == ["cw_BankB"]  # a1's conflict set: counters agree with domains
    assert [d["name"] for d in h2["domains"]] == ["Domain-0"] and h2["blocked_types"] == []

    # a BankB domain: h1 is refused, naming a1 (read lazily, in the same snapshot)
    (placed,) = _answer(store, "place", str(config(tmp, "b1", "dom_BankB")))["placements"]
    assert placed["host"] == "h2" and placed["candidates"] == ["h2"]
    (refused,) = placed["refused"]
    assert refused["host"] == "h1"
    assert [r["message"] for r in refused["refusals"]] == [
        "Chinese Wall: conflict set Banks with domain 'a1' (label dom_BankA) running there"
    ]

    # audit reads the hosts themselves: h1 already runs web, the committed
    # inventory does not have it yet (the create's own write is not seen)
    audit = _answer(store, "audit", code=1)
    drift = [f["message"] for f in audit["findings"] if f["host"] == "h1"]
    assert "domain 'web' runs on the host, not in the inventory" in drift
    assert [f for f in audit["findings"] if f["host"] != "h1"] == []

    # preview reads the hosts themselves too: under v2 (conflict set
    # Regulated: BankA and Hospital) h1's a1 and web may not run together
    preview = _answer(store, "preview-policy", str(POLICY_V2_XML), code=1)
    assert [(h["host"], h["error"], h["loadable"]) for h in preview["hosts"]] == [
        ("h1", None, False),
        ("h2", None, True),
    ]

    # init again, on a store at the current schema version, only reads
    assert _answer(store, "init")["schema_version"] == 2

    assert write_lock_is_held(store)  # the readers answered inside the create's hold

    out, err = paused_create.communicate("\n", timeout=120)
    assert paused_create.returncode == 0, err
    assert json.loads(out) == {"created": "web", "host": "h1"}
    after = _answer(store, "hosts")["hosts"][0]
    assert [d["name"] for d in after["domains"]] == ["Domain-0", "a1", "web"]
    assert after["revision"] > h1["revision"]
    assert _answer(store, "audit") == {**audit, "clean": True, "findings": []}


def test_a_placement_is_one_commits_answer(two_banks: tuple[str, Path]) -> None:
    """A placement reads the hosts' rows first and the domains a Chinese
    Wall refusal names later, when it needs them: both in one snapshot. A
    destroy typed in between (its own process, committing meanwhile: the
    reader holds no lock it waits for) changes neither; the next placement
    sees it."""
    from xm_core.fleet.operations import place
    from xm_core.fleet.store import DomainRow, FleetStore

    store, tmp = two_banks
    cfg = config(tmp, "b1", "dom_BankB")
    destroyed: list[subprocess.CompletedProcess[str]] = []
    with FleetStore.open(store) as reader:
        first_read = reader.blockers_of

        def destroy_then_read(hosts: Any, half: int, ssids: Any) -> dict[str, list[DomainRow]]:
            if not destroyed:
                destroyed.append(xm_fleet_process(store, "destroy", "a1"))
            return first_read(hosts, half, ssids)

        reader.blockers_of = destroy_then_read  # type: ignore[method-assign]
        (placed,) = place(reader, str(cfg))
        assert destroyed[0].returncode == 0, destroyed[0].stderr
        (refused,) = placed.refused
        assert [r.message for r in refused.refusals] == [
            "Chinese Wall: conflict set Banks with domain 'a1' (label dom_BankA) running there"
        ]
        (again,) = place(reader, str(cfg))
    assert again.refused == [] and sorted(again.candidates) == ["h1", "h2"]


def test_a_snapshot_only_reads(store_url: str) -> None:
    """Inside a snapshot a write fails at once (SQLite's query_only,
    PostgreSQL's READ ONLY) and a writing transaction is refused: a reader
    never becomes a writer that did not take its lock first."""
    from xm_core.fleet.store import FleetStore, FleetStoreError, PolicyRow

    assert fleet_run(store_url, "init").code == 0
    row = PolicyRow("0" * 64, "p", None, "{}", ())
    with FleetStore.open(store_url) as store:
        with store.snapshot(), pytest.raises(FleetStoreError, match="read-?only"):
            store.put_policy(row)
        with (
            store.snapshot(),
            pytest.raises(RuntimeError, match="inside a read snapshot"),
            store.transaction(),
        ):
            pass
        with store.snapshot(), pytest.raises(RuntimeError, match="writing transaction"):
            store.hold_name("web")
        with store.transaction():  # after them, the connection writes as before
            store.put_policy(row)
        with store.snapshot():
            assert list(store.policies()) == [row.hash]
