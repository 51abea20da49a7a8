"""save / restore / migrate, mem-max / mem-set, vcpu-set / vcpu-list /
vcpu-pin and sysrq, as typed."""

# Xen's printf-style formats are quoted verbatim.
# ruff: noqa: UP031
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hosttools import label_resources, loaded_host, snapshot, xm_run
from tests.labels_support import LABEL_DATA
from xm_core.errors import XmError
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.files.savefile import SavedDevice, SavedDomain, decode_save, encode_save
from xm_core.host.store import Store, StoreError, open_store

P = EXAMPLE_POLICY
SAVE_DATA = LABEL_DATA / "save"
AFFINITY_COLUMN = 32 + 1 + 3 + 1 + 5 + 1 + 5 + 1 + 5 + 1 + 7 + 2  # vcpu-list row layout


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return loaded_host(tmp_path / "a").root


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """A second host of this machine running the same policy."""
    return loaded_host(tmp_path / "b").root


def set_cpus(root: Path, nr_cpus: int) -> None:
    """Give the host a known number of CPUs (the model takes the machine's)."""
    with open_store(HostPaths(root)) as store, store.write():
        store.conn.execute("UPDATE host SET nr_cpus = ?", (nr_cpus,))


def domain(root: Path, name: str) -> dict[str, object] | None:
    with open_store(HostPaths(root)) as store:
        rec = store.find_domain(name)
        if rec is None:
            return None
        devices = [(d.kind, d.frontend, d.resource, d.mode) for d in store.devices(rec.domid)]
        return {
            "domid": rec.domid,
            "uuid": rec.uuid,
            "label": rec.label,
            "ssidref": rec.ssidref,
            "memory": rec.memory,
            "maxmem": rec.maxmem,
            "vcpus": rec.vcpus,
            "devices": devices,
            "config": rec.config,
        }


COMMANDS = [
    "save", "restore", "migrate", "mem-max", "mem-set", "vcpu-set", "vcpu-list", "vcpu-pin",
    "sysrq",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help(tmp_path: Path, command: str) -> None:
    run = xm_run(tmp_path, command, "--help")
    assert run.code == 0
    assert run.out.startswith(f"Usage: xm {command}")


# ------------------------------------------------------------------ save / restore


def test_save_and_restore_round_trip(root: Path, tmp_path: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    before = domain(root, "bank")
    assert before is not None and before["devices"]
    file = tmp_path / "bank.save"

    run = xm_run(root, "save", "bank", str(file))
    assert (run.code, run.out, run.err) == (0, "", "")
    assert domain(root, "bank") is None
    assert file.stat().st_mode & 0o777 == 0o600
    doc = json.loads(file.read_text())
    assert doc["format"] == "xm-acm-save"
    assert (doc["domain"]["policy"], doc["domain"]["label"]) == (P, "dom_HomeBanking")

    # the saved domain no longer holds its Chinese Wall types: fun starts now
    assert xm_run(root, "create", "fun").code == 0
    run = xm_run(root, "restore", str(file))
    assert run.code == 1
    assert "Chinese Wall conflict" in run.err
    assert domain(root, "bank") is None

    assert xm_run(root, "destroy", "fun").code == 0
    run = xm_run(root, "restore", str(file))
    assert (run.code, run.out, run.err) == (0, "", "")
    after = domain(root, "bank")
    assert after is not None
    same = ("uuid", "label", "ssidref", "memory", "maxmem", "vcpus", "devices", "config")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}
    assert after["domid"] != before["domid"]

    run = xm_run(root, "restore", str(file))
    assert (run.code, run.err) == (1, "Error: Domain 'bank' already exists.\n")


def test_restore_json(root: Path, tmp_path: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(root, "save", "boinc", str(tmp_path / "s")).code == 0
    run = xm_run(root, "restore", str(tmp_path / "s"), "--json")
    doc = json.loads(run.out)
    assert (doc["name"], doc["created"], doc["label"]) == ("boinc", True, "dom_BoincClient")


def test_restore_rechecks_the_label_under_the_policy_active_then(
    root: Path, tmp_path: Path
) -> None:
    """A host without the policy (DEFAULT) refuses the labeled domain."""
    from tests.hosttools import compile_example

    assert xm_run(root, "create", "boinc").code == 0
    file = tmp_path / "boinc.save"
    assert xm_run(root, "save", "boinc", str(file)).code == 0
    fresh = compile_example(tmp_path / "fresh").root
    before = snapshot(HostPaths(fresh))
    run = xm_run(fresh, "restore", str(file))
    assert run.code == 1
    assert run.err == (
        f"Error: 'Security policy ({P}) incompatible with enforced policy (DEFAULT).'\n"
    )
    assert snapshot(HostPaths(fresh)) == before


def test_restore_rechecks_the_devices(root: Path, tmp_path: Path) -> None:
    """The disk was relabeled while the domain was saved: refused."""
    assert xm_run(root, "create", "bank").code == 0
    file = tmp_path / "bank.save"
    assert xm_run(root, "save", "bank", str(file)).code == 0
    label_resources(HostPaths(root), {"phy:/dev/hda1": (P, "res_LogicalDiskPartition2(hda2)")})
    before = snapshot(HostPaths(root))
    run = xm_run(root, "restore", str(file))
    assert run.code == 1
    assert "phy:/dev/hda1" in run.err
    assert snapshot(HostPaths(root)) == before


def test_restore_never_trusts_the_saved_ssidref(root: Path, tmp_path: Path) -> None:
    """An edited ssidref (checksum recomputed) changes nothing: the label decides."""
    assert xm_run(root, "create", "boinc").code == 0
    file = tmp_path / "boinc.save"
    assert xm_run(root, "save", "boinc", str(file)).code == 0
    saved = decode_save(file.read_bytes(), str(file))
    real = saved.ssidref
    saved.ssidref = 0x00010001  # the bootstrap label's
    file.write_bytes(encode_save(saved))
    assert xm_run(root, "restore", str(file)).code == 0
    restored = domain(root, "boinc")
    assert restored is not None and restored["ssidref"] == real


def test_save_refusals(root: Path, tmp_path: Path) -> None:
    run = xm_run(root, "save", "Domain-0", str(tmp_path / "d0"))
    assert (run.code, run.err) == (1, "Error: Cannot save privileged domain Domain-0.\n")
    run = xm_run(root, "save", "nobody", str(tmp_path / "x"))
    assert (run.code, run.err) == (1, "Error: Domain 'nobody' does not exist.\n")
    assert not (tmp_path / "d0").exists() and not (tmp_path / "x").exists()
    assert xm_run(root, "create", "boinc").code == 0
    run = xm_run(root, "save", "boinc", str(tmp_path / "no" / "such" / "dir" / "f"))
    assert run.code == 1 and run.err.count("\n") == 1
    assert domain(root, "boinc") is not None


def test_failed_save_write_keeps_the_domain(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    before = snapshot(HostPaths(root))

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    run = xm_run(root, "save", "boinc", str(tmp_path / "boinc.save"))
    assert run.code == 1 and "No space left on device" in run.err
    monkeypatch.undo()
    assert snapshot(HostPaths(root)) == before
    assert list(tmp_path.glob("*boinc.save*")) == []


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("tampered_memory.save", "its checksum does not match its contents"),
        ("newer_version.save", "version 2 is newer than this xm-acm reads (1)"),
        ("duplicate_key.save", "key 'memory' is given twice"),
        ("bad_type.save", "domain.memory has the wrong type"),
        ("not_json.save", "is not an xm-acm save file (not JSON"),
        ("other_json.save", "is not an xm-acm save file (its format is not xm-acm-save)"),
        ("xen_image.save", "is not an xm-acm save file (not UTF-8 text"),
        ("truncated.save", "is not an xm-acm save file (not JSON"),
    ],
)
def test_bad_save_files_give_one_clear_error(root: Path, name: str, says: str) -> None:
    before = snapshot(HostPaths(root))
    file = SAVE_DATA / name
    run = xm_run(root, "restore", str(file))
    assert run.code == 1
    assert run.err.startswith(f"Error: Save file '{file}' ")
    assert says in run.err
    assert run.err.count("\n") == 1
    assert snapshot(HostPaths(root)) == before


def test_the_good_save_file_data_restores(root: Path) -> None:
    """The bad files above are each one defect away from this one."""
    run = xm_run(root, "restore", str(SAVE_DATA / "good.save"))
    assert (run.code, run.err) == (0, "")
    restored = domain(root, "boinc")
    assert restored is not None and restored["label"] == "dom_BoincClient"


def test_missing_save_file(root: Path, tmp_path: Path) -> None:
    run = xm_run(root, "restore", str(tmp_path / "nope"))
    assert (run.code, run.err) == (1, f"Error: Save file '{tmp_path / 'nope'}' not found.\n")


_saved = st.builds(
    SavedDomain,
    name=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    uuid=st.uuids().map(str),
    memory=st.integers(1, 1 << 20),
    maxmem=st.integers(1, 1 << 20),
    vcpus=st.integers(1, 64),
    state=st.sampled_from(["running", "paused"]),
    policy=st.one_of(st.none(), st.just(P)),
    label=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
    ssidref=st.integers(0, 0xFFFFFFFF),
    config=st.dictionaries(
        st.text(min_size=1, max_size=6),
        st.one_of(st.integers(-5, 5), st.text(max_size=6), st.lists(st.text(max_size=4))),
        max_size=4,
    ),
    devices=st.lists(
        st.builds(
            SavedDevice,
            kind=st.sampled_from(["vbd", "vif"]),
            devid=st.integers(0, 1 << 16),
            frontend=st.text(min_size=1, max_size=5),
            resource=st.one_of(st.none(), st.text(max_size=10)),
            written=st.text(max_size=10),
            mode=st.sampled_from(["r", "w", ""]),
            backend=st.text(min_size=1, max_size=8),
            params=st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
        ),
        max_size=3,
    ),
    saved_at=st.floats(0, 2e9),
    saved_host=st.text(max_size=10),
    saved_policy=st.text(max_size=10),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(saved=_saved, data=st.data())
def test_save_file_round_trip_and_any_byte_change_is_caught(
    saved: SavedDomain, data: st.DataObject
) -> None:
    raw = encode_save(saved)
    assert decode_save(raw, "f") == saved
    i = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]))
    changed = raw[:i] + bytes([byte]) + raw[i + 1 :]
    try:
        decoded = decode_save(changed, "f")
    except XmError as exc:
        assert exc.message.startswith("Save file 'f' ")
    else:  # only a change that leaves the content equal (whitespace) may pass
        assert decoded == saved


# ------------------------------------------------------------------ migrate


def test_migrate_moves_the_domain_whole(root: Path, other: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    before = domain(root, "bank")
    run = xm_run(root, "migrate", "bank", str(other))
    assert (run.code, run.out, run.err) == (0, "", "")
    assert domain(root, "bank") is None
    moved = domain(other, "bank")
    assert moved is not None and before is not None
    same = ("uuid", "label", "ssidref", "memory", "maxmem", "vcpus", "devices", "config")
    assert {k: moved[k] for k in same} == {k: before[k] for k in same}
    # the Chinese Wall counters moved too
    assert xm_run(root, "create", "fun").code == 0
    run = xm_run(other, "create", "fun")
    assert run.code == 1 and "Chinese Wall conflict" in run.err


def test_migrate_live_and_json(root: Path, other: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    run = xm_run(root, "migrate", "-l", "boinc", str(other), "--json")
    assert run.code == 0
    doc = json.loads(run.out)
    assert (doc["name"], doc["target"], doc["live"]) == ("boinc", str(other), True)
    assert any("live-migrated" in line for line in xm_run(other, "log").lines)


def test_migrate_refused_when_the_domain_may_not_start_there(root: Path, other: Path) -> None:
    assert xm_run(other, "create", "fun").code == 0
    assert xm_run(root, "create", "bank").code == 0
    here, there = snapshot(HostPaths(root)), snapshot(HostPaths(other))
    run = xm_run(root, "migrate", "bank", str(other))
    assert run.code == 1
    assert "Chinese Wall conflict" in run.err and "'fun'" in run.err
    assert snapshot(HostPaths(root)) == here
    assert snapshot(HostPaths(other)) == there
    # the target's hypervisor said why, as a refused create does
    assert any("CHINESE WALL CONFLICT" in line for line in xm_run(other, "dmesg").lines)


def test_migrate_refused_to_another_policy(root: Path, tmp_path: Path) -> None:
    from tests.hosttools import compile_example

    fresh = compile_example(tmp_path / "fresh").root
    assert xm_run(root, "create", "boinc").code == 0
    here, there = snapshot(HostPaths(root)), snapshot(HostPaths(fresh))
    run = xm_run(root, "migrate", "boinc", str(fresh))
    assert run.code == 1
    assert run.err == (
        f"Error: Host '{fresh}' runs policy 'DEFAULT', this host runs '{P}': "
        "a domain migrates only between hosts running the same policy.\n"
    )
    assert snapshot(HostPaths(root)) == here
    assert snapshot(HostPaths(fresh)) == there


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Domain-0", "OTHER"), "Cannot migrate privileged domain Domain-0."),
        (("nobody", "OTHER"), "Domain 'nobody' does not exist."),
        (("boinc", "ROOT"), "Cannot migrate a domain to the host it runs on"),
        (("boinc", "MISSING"), "no such host root directory"),
    ],
)
def test_migrate_refusals(
    root: Path, other: Path, tmp_path: Path, args: tuple[str, str], message: str
) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    where = {"OTHER": str(other), "ROOT": str(root), "MISSING": str(tmp_path / "none")}
    here, there = snapshot(HostPaths(root)), snapshot(HostPaths(other))
    run = xm_run(root, "migrate", args[0], where[args[1]])
    assert run.code == 1 and message in run.err
    assert snapshot(HostPaths(root)) == here
    assert snapshot(HostPaths(other)) == there


def test_migrate_refused_when_the_name_is_taken_there(root: Path, other: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(other, "create", "boinc").code == 0
    here = snapshot(HostPaths(root))
    run = xm_run(root, "migrate", "boinc", str(other))
    assert (run.code, run.err) == (1, "Error: Domain 'boinc' already exists.\n")
    assert snapshot(HostPaths(root)) == here


def test_migrate_undone_when_the_source_cannot_commit(
    root: Path, other: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target committed, then the source's commit failed: the domain
    stays on the source and leaves the target again (never lost, never on
    both)."""
    assert xm_run(root, "create", "boinc").code == 0
    source_db = HostPaths(root).state_db
    original = Store.write

    @contextlib.contextmanager
    def failing_write(self: Store) -> Iterator[Store]:
        with original(self) as store:
            yield store
            if self.path == source_db:
                raise StoreError("disk I/O error (simulated)")

    monkeypatch.setattr(Store, "write", failing_write)
    run = xm_run(root, "migrate", "boinc", str(other))
    monkeypatch.undo()
    assert run.code == 1 and "disk I/O error (simulated)" in run.err
    assert domain(root, "boinc") is not None
    assert domain(other, "boinc") is None
    # the target's counters were given back: a conflicting domain starts there
    assert xm_run(other, "create", "bank").code == 0


@pytest.mark.slow
def test_opposite_migrations_at_once_do_not_deadlock(root: Path, other: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(other, "create", "storage").code == 0

    def run(src: Path, dom: str, dst: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "xm_core", "--root", str(src), "migrate", dom, str(dst)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    procs = [run(root, "boinc", other), run(other, "storage", root)]
    for _ in range(5):  # a few rounds, back and forth
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
        for p in procs:
            assert p.stdout is not None and p.stderr is not None
            p.stdout.close()
            p.stderr.close()
        root, other = other, root
        procs = [run(root, "boinc", other), run(other, "storage", root)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    for p in procs:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()


# ------------------------------------------------------------------ memory


def test_mem_max_and_mem_set(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0  # memory 256
    run = xm_run(root, "mem-set", "bank", "300")
    assert run.code == 1
    assert "above the maximum of domain 'bank' (256 MiB)" in run.err
    assert xm_run(root, "mem-max", "bank", "1g").code == 0
    assert xm_run(root, "mem-set", "bank", "300").code == 0
    rec = domain(root, "bank")
    assert rec is not None and (rec["memory"], rec["maxmem"]) == (300, 1024)
    assert xm_run(root, "mem-set", "bank", "262144k").code == 0
    assert xm_run(root, "list", "bank").lines[1].split()[2] == "256"
    # a limit below the allocation is accepted, as in Xen
    assert xm_run(root, "mem-max", "bank", "128").code == 0
    rec = domain(root, "bank")
    assert rec is not None and (rec["memory"], rec["maxmem"]) == (256, 128)
    # Domain-0 balloons too
    assert xm_run(root, "mem-set", "Domain-0", "512m").code == 0
    assert xm_run(root, "list", "0").lines[1].split()[2] == "512"


@pytest.mark.parametrize(
    ("size", "code", "message"),
    [
        ("12x", 2, "Invalid memory size '12x'"),
        ("-5", 2, "Invalid memory size '-5'"),
        ("0", 2, "less than 1 MiB"),
        ("1023k", 2, "less than 1 MiB"),
        ("99999999999999999999999", 2, "Invalid memory size"),
        ("17000000g", 2, "expected 1m to 16777216m"),
    ],
)
def test_bad_memory_sizes(root: Path, size: str, code: int, message: str) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    before = snapshot(HostPaths(root))
    for command in ("mem-max", "mem-set"):
        run = (
            xm_run(root, command, "boinc", "--", size)
            if size.startswith("-")
            else xm_run(root, command, "boinc", size)
        )
        assert run.code == code and message in run.err
    assert snapshot(HostPaths(root)) == before


# ------------------------------------------------------------------ VCPUs


@pytest.fixture
def four_cpus(tmp_path: Path) -> Path:
    root = loaded_host(tmp_path / "c").root
    set_cpus(root, 4)
    (HostPaths(root).etc_xen / "quad").write_text(
        f"name = \"quad\"\nvcpus = 3\naccess_control = ['policy={P},label=dom_BoincClient']\n"
    )
    assert xm_run(root, "create", "quad").code == 0
    return root


def test_vcpu_list_format(four_cpus: Path) -> None:
    run = xm_run(four_cpus, "vcpu-list", "quad")
    header = "%-32s %3s %5s %5s %5s %9s %s" % (
        "Name", "ID", "VCPU", "CPU", "State", "Time(s)", "CPU Affinity",
    )  # fmt: skip
    row = "%(name)-32s %(domid)3d %(number)5d %(c)5s %(s)5s %(cpu_time)7.1f  %(cpumap)s"
    assert run.lines == [
        header,
        row % dict(name="quad", domid=1, number=0, c="1", s="r--", cpu_time=0.0, cpumap="any cpu"),
        row % dict(name="quad", domid=1, number=1, c="2", s="r--", cpu_time=0.0, cpumap="any cpu"),
        row % dict(name="quad", domid=1, number=2, c="3", s="r--", cpu_time=0.0, cpumap="any cpu"),
    ]
    every = xm_run(four_cpus, "vcpu-list")
    assert [line.split()[0] for line in every.lines[1:]].count("Domain-0") >= 1


def test_vcpu_set_rules(four_cpus: Path) -> None:
    run = xm_run(four_cpus, "vcpu-set", "quad", "4")
    assert run.code == 1
    assert run.err == (
        "Error: Cannot set vcpus greater than max vcpus on running domain\n"
        "  domain 'quad' has at most 3 VCPU(s)\n"
    )
    assert xm_run(four_cpus, "vcpu-set", "quad", "1").code == 0
    lines = xm_run(four_cpus, "vcpu-list", "quad").lines[1:]
    assert [(ln.split()[3], ln.split()[4]) for ln in lines] == [
        ("1", "r--"),
        ("-", "--p"),
        ("-", "--p"),
    ]
    assert xm_run(four_cpus, "list", "quad").lines[1].split()[3] == "1"
    # 0: ignored, nothing changes (Xen's "below 1"); a negative count is malformed
    run = xm_run(four_cpus, "vcpu-set", "quad", "0")
    assert (run.code, run.err) == (0, "")
    assert xm_run(four_cpus, "list", "quad").lines[1].split()[3] == "1"
    run = xm_run(four_cpus, "vcpu-set", "quad", "-2")
    assert run.code == 2 and run.err.startswith("Error: Invalid VCPU count '-2'")
    assert xm_run(four_cpus, "list", "quad").lines[1].split()[3] == "1"
    assert xm_run(four_cpus, "vcpu-set", "quad", "3").code == 0  # back up to the maximum
    run = xm_run(four_cpus, "vcpu-set", "quad", "two")
    assert run.code == 2 and "Invalid VCPU count 'two'" in run.err


def test_vcpu_list_json(four_cpus: Path) -> None:
    assert xm_run(four_cpus, "vcpu-set", "quad", "2").code == 0
    doc = json.loads(xm_run(four_cpus, "vcpu-list", "quad", "--json").out)
    assert doc == {
        "vcpus": [
            {"name": "quad", "domid": 1, "vcpu": 0, "cpu": 1, "online": True, "state": "r--",
             "cpu_time": 0.0, "affinity": [0, 1, 2, 3]},
            {"name": "quad", "domid": 1, "vcpu": 1, "cpu": 2, "online": True, "state": "r--",
             "cpu_time": 0.0, "affinity": [0, 1, 2, 3]},
            {"name": "quad", "domid": 1, "vcpu": 2, "cpu": None, "online": False, "state": "--p",
             "cpu_time": 0.0, "affinity": [0, 1, 2, 3]},
        ]
    }  # fmt: skip


def test_vcpu_pin(four_cpus: Path, tmp_path: Path) -> None:
    assert xm_run(four_cpus, "vcpu-pin", "quad", "0", "2").code == 0
    assert xm_run(four_cpus, "vcpu-pin", "quad", "1", "0-3,^1").code == 0
    affinity = [ln[AFFINITY_COLUMN:] for ln in xm_run(four_cpus, "vcpu-list", "quad").lines[1:]]
    assert affinity == ["2", "0,2-3", "any cpu"]
    cpus = [ln.split()[3] for ln in xm_run(four_cpus, "vcpu-list", "quad").lines[1:]]
    assert cpus[0] == "2" and cpus[1] in ("0", "2", "3")

    assert xm_run(four_cpus, "vcpu-pin", "quad", "all", "1-2").code == 0
    affinity = [ln[AFFINITY_COLUMN:] for ln in xm_run(four_cpus, "vcpu-list", "quad").lines[1:]]
    assert affinity == ["1-2", "1-2", "1-2"]

    # the pinning travels with the domain
    file = tmp_path / "quad.save"
    assert xm_run(four_cpus, "save", "quad", str(file)).code == 0
    assert xm_run(four_cpus, "restore", str(file)).code == 0
    affinity = [ln[AFFINITY_COLUMN:] for ln in xm_run(four_cpus, "vcpu-list", "quad").lines[1:]]
    assert affinity == ["1-2", "1-2", "1-2"]
    assert xm_run(four_cpus, "vcpu-pin", "quad", "all", "all").code == 0
    affinity = [ln[AFFINITY_COLUMN:] for ln in xm_run(four_cpus, "vcpu-list", "quad").lines[1:]]
    assert affinity == ["any cpu"] * 3


@pytest.mark.parametrize(
    ("vcpu", "cpus", "code", "message"),
    [
        ("3", "0", 1, "Invalid VCPU 3: domain 'quad' has VCPUs 0-2"),
        ("x", "0", 2, "Invalid VCPU 'x'"),
        ("0", "4", 1, "this host has CPUs 0-3"),
        ("0", "2-1", 1, "runs backwards"),
        ("0", "a", 2, "'a' is not n, n-m or ^n"),
        ("0", "1,^1", 1, "no CPU left"),
    ],
)
def test_vcpu_pin_refusals(four_cpus: Path, vcpu: str, cpus: str, code: int, message: str) -> None:
    before = domain(four_cpus, "quad")
    run = xm_run(four_cpus, "vcpu-pin", "quad", vcpu, cpus)
    assert run.code == code and message in run.err
    assert domain(four_cpus, "quad") == before


# ------------------------------------------------------------------ sysrq


def test_sysrq(root: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    before = domain(root, "boinc")
    run = xm_run(root, "sysrq", "boinc", "s")
    assert (run.code, run.out, run.err) == (0, "", "")
    assert xm_run(root, "log").lines[-1].endswith("INFO sysrq 's' sent to domain boinc (id 1)")
    assert domain(root, "boinc") == before
    run = xm_run(root, "sysrq", "boinc", "ab")
    assert run.code == 2 and "expected one printable character" in run.err
    run = xm_run(root, "sysrq", "Domain-0", "s")
    assert (run.code, run.err) == (1, "Error: Cannot send sysrq to privileged domain Domain-0.\n")
    run = xm_run(root, "sysrq", "nobody", "s")
    assert run.code == 1
