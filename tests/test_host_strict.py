"""The host behaves like a Xen host (issue 20): memory and ballooning as
xend did, shared disks under the block script's rules, HVM CD-ROM drives,
`vif=` without networking. Every check types the command."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.hosttools import compile_example, install_configs, loaded_host, snapshot, xm_run
from xm_core.files.paths import HostPaths

STRICT = Path(__file__).resolve().parent / "data" / "strict"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    paths = loaded_host(tmp_path / "root")
    for cfg in STRICT.glob("*.cfg"):
        (paths.etc_xen / cfg.stem).write_bytes(cfg.read_bytes())
    return paths.root


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A DEFAULT host (nothing loaded) with the configs of this file."""
    paths = compile_example(tmp_path / "root")
    install_configs(paths)
    for cfg in STRICT.glob("*.cfg"):
        (paths.etc_xen / cfg.stem).write_bytes(cfg.read_bytes())
    return paths.root


def _set_total_memory(root: Path, mib: int) -> None:
    """The scene: a host of `mib` MiB (the store takes this machine's memory)."""
    xm_run(root, "list")  # the store exists
    with sqlite3.connect(HostPaths(root).state_db) as conn:
        conn.execute("UPDATE host SET total_memory = ?", (mib,))


def _info(root: Path) -> dict[str, str]:
    run = xm_run(root, "info")
    return {k.strip(): v for k, v in (line.split(" : ", 1) for line in run.lines)}


def _mem(root: Path, name: str) -> int:
    for line in xm_run(root, "list").lines[1:]:
        if line.split()[0] == name:
            return int(line.split()[2])
    raise AssertionError(name)


# ------------------------------------------------------------------ memory


def test_two_large_domains_do_not_fit(fresh: Path) -> None:
    _set_total_memory(fresh, 24105)
    (HostPaths(fresh).etc_xen / "xend-config.sxp").write_bytes(
        (STRICT / "xend-config.sxp").read_bytes()
    )
    assert _info(fresh)["free_memory"] == str(24105 - 1024)
    assert xm_run(fresh, "create", "huge").code == 0
    assert _info(fresh)["free_memory"] == str(24105 - 1024 - 20000)
    before = snapshot(HostPaths(fresh))
    run = xm_run(fresh, "create", "huge", "name=huge2")
    assert run.code == 1
    assert run.err == (
        "Error: I need 20480000 KiB, but dom0_min_mem is 200704 and shrinking to "
        "200704 KiB would leave only 4002816 KiB free.\n"
    )
    assert snapshot(HostPaths(fresh)) == before
    assert _mem(fresh, "Domain-0") == 1024


def test_create_balloons_domain0_down(fresh: Path) -> None:
    _set_total_memory(fresh, 24105)
    assert xm_run(fresh, "create", "huge").code == 0
    run = xm_run(fresh, "create", "huge", "name=mid", "memory=3500")
    assert run.code == 0, run.err
    # 1024 MiB less the 429,056 KiB missing, rounded down
    assert _mem(fresh, "Domain-0") == 605
    assert _info(fresh)["free_memory"] == "0"
    assert "Balloon: setting dom0 target to 605 MiB." in xm_run(fresh, "log").out


def test_dom0_min_mem_0_never_balloons(fresh: Path) -> None:
    _set_total_memory(fresh, 24105)
    (HostPaths(fresh).etc_xen / "xend-config.sxp").write_text("(dom0-min-mem 0)\n")
    assert xm_run(fresh, "create", "huge").code == 0
    run = xm_run(fresh, "create", "huge", "name=mid", "memory=3500")
    assert run.code == 1
    assert run.err == (
        "Error: Not enough free memory and dom0_min_mem is 0, so I cannot release any "
        "more.  I need 3584000 KiB but only have 3154944.\n"
    )


def test_a_huge_domain_is_refused(fresh: Path) -> None:
    _set_total_memory(fresh, 24105)
    run = xm_run(fresh, "create", "/dev/null", "name=huge", "memory=9999999")
    assert run.code == 1 and run.err.startswith("Error: I need 10239998976 KiB")
    assert len(xm_run(fresh, "list").lines) == 2


def test_mem_set_and_mem_max_respect_the_host(fresh: Path) -> None:
    _set_total_memory(fresh, 24105)
    assert xm_run(fresh, "create", "huge").code == 0
    assert xm_run(fresh, "mem-max", "huge", "30000").code == 1
    run = xm_run(fresh, "mem-max", "huge", "30g")
    assert "above the host's total memory (24105 MiB)" in run.err
    assert xm_run(fresh, "mem-max", "huge", "24000").code == 0
    run = xm_run(fresh, "mem-set", "huge", "24000")
    assert run.code == 1 and "dom0_min_mem is 200704" in run.err
    assert _mem(fresh, "huge") == 20000
    assert xm_run(fresh, "mem-set", "huge", "22000").code == 0  # out of the free memory
    assert _mem(fresh, "Domain-0") == 1024 and _info(fresh)["free_memory"] == "1081"
    assert xm_run(fresh, "mem-max", "Domain-0", "4000").code == 0
    run = xm_run(fresh, "mem-set", "Domain-0", "3000")  # Domain-0 takes only what is free
    assert run.err == "Error: I need 2023424 KiB but only have 1106944 KiB free.\n"
    assert xm_run(fresh, "mem-set", "Domain-0", "2000").code == 0


def test_restore_needs_the_memory_too(fresh: Path, tmp_path: Path) -> None:
    _set_total_memory(fresh, 24105)
    assert xm_run(fresh, "create", "huge").code == 0
    assert xm_run(fresh, "save", "huge", str(tmp_path / "huge.save")).code == 0
    assert xm_run(fresh, "create", "huge", "name=other").code == 0
    run = xm_run(fresh, "restore", str(tmp_path / "huge.save"))
    assert run.code == 1 and "dom0_min_mem" in run.err


def test_list_widens_the_mem_column(fresh: Path) -> None:
    _set_total_memory(fresh, 200000)
    assert xm_run(fresh, "create", "/dev/null", "name=big", "memory=150000").code == 0
    lines = xm_run(fresh, "list").lines
    assert lines[0].startswith("Name" + " " * 37 + " ID    Mem VCPUs")
    assert lines[2].startswith("big" + " " * 38 + "  1 150000     1")
    assert len({len(line) for line in lines[1:]}) == 1  # (Xen's header is one longer)


# ------------------------------------------------------------------ shared disks


@pytest.mark.parametrize("mode", ["r", "ro", "w", "rw", "w!", "rw!"])
def test_every_mode_of_xens_block_script_is_taken(fresh: Path, mode: str) -> None:
    assert xm_run(fresh, "create", "/dev/null", "name=d", "vif=").code == 0
    run = xm_run(fresh, "block-attach", "d", "phy:hda6", "sdb", mode)
    assert run.code == 0, run.err
    assert xm_run(fresh, "block-list", "d").lines[1].split()[3] == mode


def test_read_only_uses_share(fresh: Path) -> None:
    assert xm_run(fresh, "create", "shared_ro").code == 0
    assert xm_run(fresh, "create", "shared_ro", "name=reader2").code == 0
    assert xm_run(fresh, "block-attach", "reader", "phy:hda6", "sdc", "ro").code == 0
    run = xm_run(fresh, "create", "shared_rw")
    assert run.code == 1
    assert run.err == (
        "Error: Device 2064 (vbd) could not be connected. Device /dev/hda6 is mounted "
        "in a guest domain, and so cannot be mounted now.\n"
    )


def test_a_written_disk_is_used_nowhere_else(fresh: Path) -> None:
    assert xm_run(fresh, "create", "shared_rw").code == 0
    before = snapshot(HostPaths(fresh))
    run = xm_run(fresh, "create", "shared_ro")
    assert run.err == (
        "Error: Device 2064 (vbd) could not be connected. Device /dev/hda6 is mounted "
        "read-write in a guest domain, and so cannot be mounted read-only now.\n"
    )
    assert xm_run(fresh, "create", "/dev/null", "name=other", "vif=").code == 0
    for domain in ("other", "writer"):  # another domain, and the same one twice
        run = xm_run(fresh, "block-attach", domain, "phy:hda6", "sdc", "w")
        assert run.code == 1 and "is mounted in a guest domain" in run.err
    assert xm_run(fresh, "create", "twice_rw").code == 1
    assert snapshot(HostPaths(fresh))[1] == before[1]  # no device connected
    # `!` skips the check
    assert xm_run(fresh, "block-attach", "other", "phy:hda6", "sdc", "w!").code == 0


def test_an_empty_hvm_cdrom_drive(fresh: Path) -> None:
    run = xm_run(fresh, "create", "hvm_cdrom")
    assert run.code == 0, run.err
    lines = xm_run(fresh, "block-list", "hvm").lines
    assert [line.split()[1] for line in lines[1:]] == ["hda", "hdc"]
    assert xm_run(fresh, "dry-run", "hvm_cdrom").code == 0


def test_an_empty_vif_disables_networking(fresh: Path) -> None:
    assert xm_run(fresh, "create", "/dev/null", "name=quiet", "vif=").code == 0
    assert xm_run(fresh, "network-list", "quiet").lines[1:] == []
    assert xm_run(fresh, "create", "/dev/null", "name=one", "vif=['']").code == 0
    assert len(xm_run(fresh, "network-list", "one").lines) == 2
