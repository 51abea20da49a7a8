"""The host behaves like a Xen host (issue 20): memory and ballooning as
xend did, shared disks under the block script's rules, HVM CD-ROM drives,
`vif=` without networking. Every check types the command."""

from __future__ import annotations

import json
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
    top = xm_run(fresh, "top", "-b", "-i", "1").lines
    assert top[1].split()[:3] == ["Domain-0", "r-----", str(605 * 1024)]
    doc = json.loads(xm_run(fresh, "top", "-b", "-i", "1", "--json").lines[0])
    assert (doc["total_memory"], doc["free_memory"]) == (24105, 0)
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


# ------------------------------------------------------------------ settings


def test_the_settings_of_xen_304s_create_py(fresh: Path) -> None:
    run = xm_run(fresh, "create", "-n", "--json", "xen304_settings")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["vncpasswd"] == "secret" and doc["cpu_cap"] == 50
    assert (doc["on_xend_start"], doc["on_xend_stop"]) == ("start", "shutdown")
    assert "cdrom" not in doc and "ssidref" not in doc
    sxp = xm_run(fresh, "create", "-n", "xen304_settings").out
    for item in ("(on_xend_start start)", "(cpu_cap 50)", "(vncpasswd secret)"):
        assert item in sxp
    assert "cdrom" not in sxp and "ssidref" not in sxp
    # the ssidref is no label: the domain starts unlabeled under DEFAULT
    assert xm_run(fresh, "create", "xen304_settings").code == 0
    assert xm_run(fresh, "list", "--label", "vti").lines[1].split()[-1] == "DEFAULT"


# ------------------------------------------------------------------ security off


OFF = "Error: \"Security is off, but 'phy:/dev/hda1' is labeled\"\n"  # Xen's ACMError


def test_labeled_disks_are_refused_with_no_policy_loaded(fresh: Path) -> None:
    """The man page: labeled resources cannot be used when security is off;
    a new host is DEFAULT (no policy loaded)."""
    from tests.hosttools import label_resources

    label_resources(HostPaths(fresh))
    before = snapshot(HostPaths(fresh))
    run = xm_run(fresh, "create", "/dev/null", "name=d", "disk=['phy:hda1,sda1,w']")
    assert (run.code, run.err) == (1, OFF)
    assert snapshot(HostPaths(fresh)) == before
    assert xm_run(fresh, "dry-run", "/dev/null", "name=d", "disk=['phy:hda1,sda1,w']").code == 1
    assert xm_run(fresh, "create", "/dev/null", "name=d", "disk=['phy:hda6,sda1,w']").code == 0
    run = xm_run(fresh, "block-attach", "d", "phy:hda1", "sdb", "r")
    assert (run.code, run.err) == (1, OFF)


def test_cfgbootpolicy_an_exact_title_wins(fresh: Path) -> None:
    menu = (
        Path(__file__).resolve().parent.parent / "boot" / "grub-fixtures" / "several-xen.menu.lst"
    )
    HostPaths(fresh).grub_dir.mkdir(parents=True)
    (HostPaths(fresh).grub_dir / "menu.lst").write_bytes(menu.read_bytes())
    run = xm_run(fresh, "cfgbootpolicy", "example.chwall_ste.client_v1", "2.6.16.33")
    assert run.code == 1 and "\\n" not in run.err and run.err.count("\n") == 1
    assert "or one whole title (an exact title wins)" in run.err
    title = "Xen 3.0.4 / XenLinux 2.6.16.33"
    run = xm_run(fresh, "cfgbootpolicy", "example.chwall_ste.client_v1", title)
    assert run.code == 0, run.err
    lines = (HostPaths(fresh).grub_dir / "menu.lst").read_text().splitlines()
    assert lines[lines.index(f"title {title}") + 5].endswith("example.chwall_ste.client_v1.bin")


# ------------------------------------------------------------------ lock files


def test_no_lock_file_stays_in_the_policy_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for args in (
        ["makepolicy", "example.chwall_ste.client_v1"],
        ["loadpolicy", "example.chwall_ste.client_v1"],
        ["makepolicy", "example.ste.client_v1"],
        ["labels", "example.ste.client_v1"],
        ["cfgbootpolicy", "example.chwall_ste.client_v1"],
    ):
        assert xm_run(root, *args).code == 0, args
    policies = HostPaths(root).policies
    assert [p.name for p in policies.rglob("*.lock")] == []


def test_the_lock_holds_while_held_and_goes_after(tmp_path: Path) -> None:
    """A second locker waits for the first; the file it then locks is the
    one of that name (the first removed the old one): never two holders."""
    import threading
    import time

    from xm_core.files.atomic import LockBusy, exclusive_lock, shared_lock

    lock = tmp_path / ".p.lock"
    order: list[str] = []
    with exclusive_lock(lock):
        with pytest.raises(LockBusy), exclusive_lock(lock, wait=False):
            pass

        def second() -> None:
            with exclusive_lock(lock):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.1)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"] and not lock.exists()
    with shared_lock(lock), shared_lock(lock):
        assert lock.exists()
    assert not lock.exists()


def test_xens_own_hvm_example_starts(fresh: Path, xen_ref: Path) -> None:
    """`xm create xmexample.hvm`: its `',hdc:cdrom,r'` drive has no medium."""
    run = xm_run(fresh, "create", str(xen_ref / "configs" / "xmexample.hvm"))
    assert (run.code, run.out) == (0, "Started domain ExampleHVMDomain\n"), run.err
    lines = xm_run(fresh, "block-list", "ExampleHVMDomain").lines
    assert lines[2].split() == ["5632", "hdc", "0", "r"]
