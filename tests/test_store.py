"""The host state store: schema, Domain-0, policy state, transactions, damage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.store import (
    DOM0_NAME,
    SCHEMA_VERSION,
    DeviceRecord,
    PolicyState,
    SteStats,
    Store,
    StoreError,
    open_store,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(HostPaths(tmp_path))
    yield s
    s.close()


def test_new_host_has_domain0_default_policy_and_wal(store: Store, tmp_path: Path) -> None:
    assert store.path == HostPaths(tmp_path).state_db
    assert store.schema_version() == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    doms = store.domains()
    assert [(d.domid, d.name, d.ssidref) for d in doms] == [(0, DOM0_NAME, 0)]
    pol = store.active_policy()
    assert pol.state is PolicyState.DEFAULT and pol.reference == "DEFAULT"
    assert store.active_policy_name() == "DEFAULT"
    assert store.active_binary() is None and store.active_compiled() is None


def test_reopen_keeps_state(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    with open_store(paths) as s, s.write():
        s.add_domain("web", 0x00020002, 128, 1)
    with open_store(paths) as s:
        assert [d.name for d in s.domains()] == [DOM0_NAME, "web"]
        assert s.domain("web").ssidref == 0x00020002
        assert s.domain("1").name == "web"


def test_changes_need_a_write_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError):
        store.add_domain("x", 0, 1, 1)


def test_failed_transaction_changes_nothing(store: Store) -> None:
    with pytest.raises(XmError), store.write():
        store.add_domain("a", 0, 64, 1)
        store.add_domain("a", 0, 64, 1)  # duplicate name
    assert [d.name for d in store.domains()] == [DOM0_NAME]


def test_policy_state_round_trip(store: Store) -> None:
    with store.write():
        gen = store.set_active_policy(PolicyState.NAMED, "p.q", b"BIN", b"MAP")
    pol = store.active_policy()
    assert (pol.state, pol.name, pol.binary, pol.map, pol.generation) == (
        PolicyState.NAMED,
        "p.q",
        b"BIN",
        b"MAP",
        gen,
    )
    assert store.active_policy_name() == "p.q"
    with store.write():
        store.set_active_policy(PolicyState.NULL)
    assert store.active_policy_name() == "NULL"
    with pytest.raises(ValueError), store.write():
        store.set_active_policy(PolicyState.NAMED, "x")


def test_damaged_loaded_policy_is_reported(store: Store) -> None:
    with store.write():
        store.set_active_policy(PolicyState.NAMED, "p", b"not a policy", None)
    with pytest.raises(StoreError, match="damaged"):
        store.active_compiled()


def test_counters_never_go_below_zero(store: Store) -> None:
    with store.write():
        store.add_chwall_counters({1: (1, 0), 2: (0, 2)})
    assert store.chwall_counters(4) == ([0, 1, 0, 0], [0, 0, 2, 0])
    assert store.chwall_counters_of([2, 3]) == {2: (0, 2), 3: (0, 0)}
    with pytest.raises(StoreError, match="below zero"), store.write():
        store.add_chwall_counters({1: (-2, 0)})
    assert store.chwall_counters(4) == ([0, 1, 0, 0], [0, 0, 2, 0])


def test_devices_cache_stats_messages(store: Store) -> None:
    with store.write():
        dom = store.add_domain("a", 0, 64, 1)
        store.add_device(
            DeviceRecord(dom.domid, "vbd", 2049, 0, "sda1", "phy:/dev/hda1", "phy:hda1", "w")
        )
        with pytest.raises(XmError):
            store.add_device(DeviceRecord(dom.domid, "vbd", 2049, 0, "sda1", None, "x", "w"))
        store.set_ste_cache(dom.domid, [0, None, None, None, None, None, None, None])
        store.add_ste_stats(SteStats(ec_eval=1, gt_cachehit=2))
        store.add_message("dmesg", "hello")
    assert [d.frontend for d in store.devices(dom.domid)] == ["sda1"]
    assert store.ste_cache(dom.domid)[0] == 0
    assert store.ste_stats() == SteStats(1, 0, 0, 0, 0, 2)
    assert [m.text for m in store.messages("dmesg")] == ["hello"]
    assert store.domains_with_ssid(0, [0]) == [(0, DOM0_NAME), (dom.domid, "a")]
    with store.write():
        store.remove_domain(dom.domid)
    assert store.devices() == [] and store.ste_cache(dom.domid) == [None] * 8


def test_garbage_file_is_reported_not_reset(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    paths.state_db.write_bytes(b"this is not a database at all" * 100)
    before = paths.state_db.read_bytes()
    with pytest.raises(StoreError, match="unreadable"):
        open_store(paths)
    assert paths.state_db.read_bytes() == before


def test_foreign_database_is_not_taken_over(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    conn = sqlite3.connect(paths.state_db)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an xm-acm database"):
        open_store(paths)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    open_store(paths).close()
    conn = sqlite3.connect(paths.state_db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version"):
        open_store(paths)


def test_dropped_table_is_reported(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    open_store(paths).close()
    conn = sqlite3.connect(paths.state_db)
    conn.execute("DROP TABLE chwall_counters")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="lacks tables"):
        open_store(paths)


def test_version_1_database_is_migrated(tmp_path: Path) -> None:
    from xm_core.host import store as store_mod

    paths = HostPaths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    conn = sqlite3.connect(paths.state_db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    store_mod._MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()
    with open_store(paths) as s:
        assert s.schema_version() == SCHEMA_VERSION >= 2
        assert s.active_policy().extra == {}
        assert [d.name for d in s.domains()] == [DOM0_NAME]


def test_busy_store_waits_instead_of_failing(tmp_path: Path) -> None:
    import threading
    import time

    paths = HostPaths(tmp_path)
    holder = open_store(paths)
    waiter = open_store(paths)
    done: list[float] = []
    released: list[float] = []

    def write() -> None:
        with waiter.write():
            waiter.add_domain("late", 0, 64, 1)
        done.append(time.monotonic())

    with holder.write():
        holder.add_domain("first", 0, 64, 1)
        t = threading.Thread(target=write)
        t.start()
        time.sleep(0.3)
        assert done == []  # still waiting for the lock
        released.append(time.monotonic())  # the holder commits right after this
    t.join(10)
    # the waiter got through, and only once the holder had let go (no matter
    # how late a loaded machine scheduled its thread)
    assert done and done[0] >= released[0]
    assert [d.name for d in holder.domains()] == [DOM0_NAME, "first", "late"]
    holder.close()
    waiter.close()


def test_short_busy_timeout_reports_busy(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    holder = open_store(paths)
    impatient = open_store(paths, busy_timeout=0.05)
    with holder.write(), pytest.raises(StoreError, match="busy"), impatient.write():
        pass
    holder.close()
    impatient.close()


def test_database_errors_inside_a_transaction_become_one_message(store: Store) -> None:
    with pytest.raises(StoreError, match="refused a change"), store.write():
        store.add_domain("a", 0, 64, 1, domid=0)  # Domain-0's id is taken
    assert [d.name for d in store.domains()] == [DOM0_NAME]
