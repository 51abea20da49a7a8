"""Device commands: block-/network- attach, detach, list, with the ACM checks
of enforcement.md section 4 (resource, backend sharing, STE cache and
statistics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.hosttools import loaded_host, snapshot, xm_run
from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.devices import blkdev_number, frontend_name, random_mac
from xm_core.host.store import open_store


@pytest.fixture
def root(tmp_path: Path) -> Path:
    paths = loaded_host(tmp_path / "root")
    for cfg in ("bank", "boinc", "storage"):
        assert xm_run(paths.root, "create", cfg).code == 0
    return paths.root


def stats(root: Path) -> tuple[int, ...]:
    with open_store(HostPaths(root)) as store:
        s = store.ste_stats()
        return (s.ec_eval, s.ec_denied, s.ec_cachehit, s.gt_eval, s.gt_denied, s.gt_cachehit)


@pytest.mark.parametrize(
    ("name", "number"),
    [("sda", 2048), ("sdb1", 2065), ("/dev/sdb1", 2065), ("hda1", 769), ("hdc", 5632),
     ("xvda", 51712), ("xvdb2", 51730), ("2065", 2065), ("0x801", 0x801), ("eth0", None)],
)  # fmt: skip
def test_blkdev_numbers_as_xen(name: str, number: int | None) -> None:
    assert blkdev_number(name) == number


def test_frontend_names() -> None:
    assert frontend_name("/dev/sdb1") == ("sdb1", "disk")
    assert frontend_name("hdc:cdrom") == ("hdc", "cdrom")
    with pytest.raises(XmError):
        frontend_name("hdc:tape")


def test_random_mac_has_xen_prefix() -> None:
    for _ in range(50):
        mac = random_mac()
        assert re.fullmatch(r"00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}", mac)


# ------------------------------------------------------------------ block devices


def test_block_attach_list_detach(root: Path) -> None:
    assert xm_run(root, "block-attach", "bank", "phy:hda1", "sdb1", "w!").code == 0
    lines = xm_run(root, "block-list", "bank").lines
    assert lines == [
        "Vdev  Device   BE  Mode Resource",
        "2049  sda1     0   w    phy:hda1",
        "2065  sdb1     0   w!   phy:hda1",
    ]
    long = xm_run(root, "block-list", "-l", "bank").out
    assert "(dev sdb1)" in long and "(virtual-device 2065)" in long
    doc = json.loads(xm_run(root, "block-list", "--json", "bank").out)
    assert [d["frontend"] for d in doc["devices"]] == ["sda1", "sdb1"]
    assert doc["devices"][1]["backend_name"] == "Domain-0"
    assert xm_run(root, "block-detach", "bank", "sdb1").code == 0
    assert xm_run(root, "block-detach", "bank", "2049").code == 0
    assert xm_run(root, "block-list", "bank").out == ""
    missing = xm_run(root, "block-detach", "bank", "sdb1")
    assert missing.code == 1 and missing.err == "Error: Device sdb1 not connected\n"


def test_block_attach_denied_resource_changes_nothing(root: Path) -> None:
    paths = HostPaths(root)
    before, before_stats = snapshot(paths), stats(root)
    run = xm_run(root, "block-attach", "boinc", "phy:hda1", "sdb1", "w")
    assert run.code == 1
    assert run.err == (
        "Error: \"Permission denied for resource 'phy:/dev/hda1' because label "
        "'res_LogicalDiskPartition1(hda1)' is not allowed\"\n"
    )
    unlabeled = xm_run(root, "block-attach", "bank", "file:/img/x.img", "sdb2", "w")
    assert unlabeled.err == "Error: \"Resource 'file:/img/x.img' is not labeled\"\n"
    assert snapshot(paths) == before and stats(root) == before_stats


def test_block_attach_checks_sharing_with_the_backend(root: Path) -> None:
    paths = HostPaths(root)
    # bank and the storage domain share ste_PersonalFinances: permitted
    ok = xm_run(root, "block-attach", "bank", "phy:hda1", "sdc", "w!", "storage")
    assert ok.code == 0, ok.err
    assert xm_run(root, "block-list", "bank").lines[-1].split()[:3] == ["2080", "sdc", "3"]
    # boinc and the storage domain share nothing: the STE hook refuses
    before, before_stats = snapshot(paths), stats(root)
    run = xm_run(root, "network-attach", "boinc", "backend=storage")
    assert run.code == 1
    assert run.err == (
        "Error: \"Permission denied: vif eth0 and its backend domain 'storage' "
        'share no STE type"\n'
    )
    assert snapshot(paths) == before  # no device, no cache entry
    after = stats(root)
    assert after[0] == before_stats[0] + 1 and after[1] == before_stats[1] + 1  # counted
    assert "ACCESS DENIED" in xm_run(root, "dmesg").out


def test_attach_to_unknown_domain_or_backend(root: Path) -> None:
    run = xm_run(root, "block-attach", "nosuch", "phy:hda1", "sdb1", "r")
    assert run.err == "Error: Domain 'nosuch' does not exist.\n"
    run = xm_run(root, "block-attach", "bank", "phy:hda1", "sdb1", "r", "77")
    assert run.err == "Error: Backend domain '77' does not exist.\n"
    run = xm_run(root, "block-attach", "bank", "phy:hda1", "sdb1", "x")
    assert run.code == 1 and "Invalid block device mode 'x'" in run.err
    run = xm_run(root, "block-attach", "bank", "phy:hda1", "sda1", "r")
    assert run.code == 1 and "already connected" in run.err


def test_ste_cache_and_statistics(root: Path) -> None:
    # bank's create connected sda1 and eth0 to Domain-0: one evaluation each
    # way, then a cache hit each way
    base = stats(root)
    xm_run(root, "block-attach", "bank", "phy:hda1", "sdb1", "w!")
    assert stats(root) == (base[0], base[1], base[2] + 1, base[3], base[4], base[5] + 1)
    with open_store(HostPaths(root)) as store:
        bank = store.domain("bank").domid
        assert bank in store.ste_cache(0) and 0 in store.ste_cache(bank)
    assert xm_run(root, "destroy", "bank").code == 0
    with open_store(HostPaths(root)) as store:
        assert bank not in store.ste_cache(0)  # cleared from every cache
    dump = xm_run(root, "dumppolicy").out
    assert f"ste: event_channel cache_hit_count = {base[2] + 1}\n" in dump


def test_destroying_a_backend_disconnects_its_frontends(root: Path) -> None:
    assert xm_run(root, "block-attach", "bank", "phy:hda1", "sdc", "w!", "storage").code == 0
    assert xm_run(root, "destroy", "storage").code == 0
    assert "sdc" not in xm_run(root, "block-list", "bank").out
    assert "lost its backend storage" in xm_run(root, "log").out


# ------------------------------------------------------------------ network


def test_network_attach_generates_a_xen_mac(root: Path) -> None:
    assert xm_run(root, "network-attach", "boinc").code == 0
    lines = xm_run(root, "network-list", "boinc").lines
    assert lines[0] == "Idx BE  MAC Addr.         Device Bridge   IP"
    idx, be, mac, dev, bridge, ip = lines[1].split()
    assert (idx, be, dev, bridge, ip) == ("0", "0", "eth0", "xenbr0", "-")
    assert mac.startswith("00:16:3e:")
    given = xm_run(root, "network-attach", "boinc", "mac=00:16:3E:AA:BB:CC", "ip=10.0.0.5")
    assert given.code == 0
    second = xm_run(root, "network-list", "boinc").lines[2].split()
    assert second[:3] == ["1", "0", "00:16:3e:aa:bb:cc"] and second[-1] == "10.0.0.5"
    assert "(mac 00:16:3e:aa:bb:cc)" in xm_run(root, "network-list", "-l", "boinc").out
    assert xm_run(root, "network-detach", "boinc", "0").code == 0
    assert [ln.split()[0] for ln in xm_run(root, "network-list", "boinc").lines[1:]] == ["1"]
    assert xm_run(root, "network-attach", "boinc").code == 0  # reuses index 0
    assert xm_run(root, "network-list", "boinc").lines[1].split()[0] == "0"


def test_network_attach_bad_settings(root: Path) -> None:
    run = xm_run(root, "network-attach", "boinc", "mac=nonsense")
    assert run.code == 2 and run.err.startswith("Error: Invalid MAC address 'nonsense': ")
    run = xm_run(root, "network-attach", "boinc", "colour=blue")
    assert run.code == 2 and "Invalid vif setting 'colour'" in run.err
    run = xm_run(root, "network-attach", "boinc", "bridge")
    assert run.code == 2 and "expected name=value" in run.err


def test_labeled_bridges_are_checked_like_disks(root: Path) -> None:
    paths = HostPaths(root)
    before = snapshot(paths)
    denied = xm_run(root, "network-attach", "bank", "bridge=xenbr1")
    assert denied.code == 1
    assert denied.err == (
        "Error: \"Permission denied for resource 'bridge:xenbr1' because label "
        "'res_EthernetCard' is not allowed\"\n"
    )
    assert snapshot(paths) == before
    assert xm_run(root, "network-attach", "bank", "bridge=bankbr").code == 0  # labeled, allowed
    assert xm_run(root, "network-attach", "boinc", "bridge=xenbr0").code == 0  # unlabeled
    doc = json.loads(xm_run(root, "network-attach", "--json", "boinc", "bridge=br9").out)
    assert doc["attached"] is True and doc["resource"] == "bridge:br9"
    denied_json = xm_run(root, "network-attach", "--json", "boinc", "bridge=bankbr")
    assert json.loads(denied_json.out)["check"]["resource_label"] == "res_SecurityToken"


def test_vif_in_a_config_with_a_labeled_bridge(root: Path) -> None:
    run = xm_run(
        root, "create", "/dev/null", "name=fun2",
        "access_control=['policy=example.chwall_ste.client_v1,label=dom_BoincClient']",
        "vif=['bridge=bankbr']",
    )  # fmt: skip
    assert run.code == 1
    assert "'bridge:bankbr' because label 'res_SecurityToken' is not allowed" in run.err
