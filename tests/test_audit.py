"""`xm acm audit`: each kind of inconsistency, made by tampering with the
store and the files of a temporary host root, is found; a clean host is
clean; nothing is changed or executed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA
from tests.hosttools import HOST_DATA, check_schema, compile_example, snapshot, xm_run
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.host.store import DeviceRecord, open_store

P = EXAMPLE_POLICY
AUDIT = Path(__file__).resolve().parent / "data" / "audit"


def clean_host(root: Path) -> HostPaths:
    """Example policy loaded, resources labeled, bank (with hda1 and a vif)
    and boinc running, two sound configs."""
    from xm_core.host.model import load_policy

    paths = compile_example(root)
    load_policy(paths, P)
    shutil.copyfile(AUDIT / "labels" / "good", paths.resource_labels)
    paths.etc_xen.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(AUDIT / "configs" / "good.cfg", paths.etc_xen / "bank")
    shutil.copyfile(AUDIT / "configs" / "unlabeled.cfg", paths.etc_xen / "plain")
    shutil.copyfile(HOST_DATA / "boinc.cfg", paths.etc_xen / "boinc")
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(root, "network-attach", "bank").code == 0
    return paths


@pytest.fixture
def paths(tmp_path: Path) -> HostPaths:
    return clean_host(tmp_path / "root")


def audit(paths: HostPaths) -> tuple[int, dict[str, Any]]:
    run = xm_run(paths.root, "acm", "audit", "--json")
    doc = json.loads(run.out)
    check_schema(doc, "audit")
    return run.code, doc


def codes(paths: HostPaths) -> list[tuple[str, str]]:
    code, doc = audit(paths)
    assert code == (1 if doc["findings"] else 0)
    return [(f["code"], f["object"]) for f in doc["findings"]]


def test_help(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "acm", "audit", "--help")
    assert run.code == 0
    assert run.out.startswith("Usage: xm acm audit [OPTIONS]")


def test_clean_host(paths: HostPaths) -> None:
    run = xm_run(paths.root, "acm", "audit")
    assert run.code == 0, run.out
    assert run.lines == [
        f"Audit of host root {paths.root} (active policy {P}): 3 domain(s), 2 device(s), "
        "3 labeled resource(s), 3 config file(s)",
        "No inconsistencies found.",
    ]
    code, doc = audit(paths)
    assert code == 0
    assert doc["clean"] is True
    assert doc["checked"] == {"domains": 3, "devices": 2, "resources": 3, "configs": 3}
    assert doc["findings"] == []


def test_new_default_host_is_clean(tmp_path: Path) -> None:
    paths = compile_example(tmp_path / "root")
    code, doc = audit(paths)
    assert code == 0
    assert doc["policy"] == "DEFAULT"
    assert doc["notes"] and "no policy is loaded" in doc["notes"][0]


def test_audit_changes_nothing(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(1, label="dom_Retired")
    before = snapshot(paths)
    labels = paths.resource_labels.read_bytes()
    assert xm_run(paths.root, "acm", "audit").code == 1
    assert snapshot(paths) == before
    assert paths.resource_labels.read_bytes() == labels


# ------------------------------------------------------------------ domains


def test_domain_label_gone(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(1, label="dom_Retired")
    assert codes(paths) == [("AUD001", "domain 'bank' (id 1)")]
    run = xm_run(paths.root, "acm", "audit")
    assert run.code == 1
    assert f"AUD001 domain 'bank' (id 1): label 'dom_Retired' is not in {P}" in run.lines
    assert run.lines[-1] == "1 finding."


def test_domain_ssidref_disagrees_with_map(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(2, ssidref=0x00050005)  # boinc, as the storage domain's SSIDs
    found = codes(paths)
    assert ("AUD002", "domain 'boinc' (id 2)") in found
    doc = audit(paths)[1]
    (f,) = [f for f in doc["findings"] if f["code"] == "AUD002"]
    assert f["message"] == (
        "runs with ssidref 0x00050005, but the .map gives label 'dom_BoincClient' "
        "ssidref 0x00040004"
    )
    assert f["kind"] == "domain"
    # and the counters no longer match the running domains
    assert {c for c, _ in found} >= {"AUD030"}


def test_domain0_ssidref(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(0, ssidref=0x00020002)
    assert ("AUD002", "domain 'Domain-0' (id 0)") in codes(paths)


def test_domain_of_another_policy(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(2, policy="some.other.policy")
    assert codes(paths) == [("AUD003", "domain 'boinc' (id 2)")]


def test_unlabeled_domain_under_a_policy(tmp_path: Path) -> None:
    """Started under DEFAULT, still running after the policy was loaded."""
    from xm_core.host.model import load_policy

    paths = compile_example(tmp_path / "root")
    paths.etc_xen.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(AUDIT / "configs" / "unlabeled.cfg", paths.etc_xen / "plain")
    assert xm_run(paths.root, "create", "plain").code == 0
    load_policy(paths, P)
    assert codes(paths) == [("AUD004", "domain 'plain' (id 1)")]


def test_ssidref_beyond_the_policy(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(2, ssidref=0x00630063, label=None, policy=None)
    found = codes(paths)
    assert found.count(("AUD005", "domain 'boinc' (id 2)")) == 2  # both halves
    assert all(o != "domain 'boinc' (id 2)" or c in ("AUD005",) for c, o in found)


def test_running_domains_in_chinese_wall_conflict(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.update_domain(2, ssidref=0x00030003, label="dom_Fun")  # boinc becomes fun
    found = codes(paths)
    assert ("AUD006", "domain 'boinc' (id 2)") in found
    doc = audit(paths)[1]
    (f,) = [f for f in doc["findings"] if f["code"] == "AUD006"]
    assert (
        "Chinese Wall conflict in type(s) cw_Distrusted (conflict set Protection1)"
        in (f["message"])
    )
    # the counters were those of boinc: they disagree too
    assert ("AUD030", "counter running_types[cw_Distrusted]") in found
    assert ("AUD030", "counter running_types[cw_Isolated]") in found
    assert ("AUD031", "counter conflict_aggregate[cw_Sensitive]") in found


# ------------------------------------------------------------------ devices and resources


def test_attached_resource_no_longer_allowed(paths: HostPaths) -> None:
    text = paths.resource_labels.read_text().replace(
        "res_LogicalDiskPartition1(hda1)", "res_LogicalDiskPartition2(hda2)", 1
    )
    paths.resource_labels.write_text(text)
    found = codes(paths)
    assert found == [("AUD013", "resource phy:/dev/hda1 of domain 'bank' (id 1)")]
    doc = audit(paths)[1]
    assert doc["findings"][0]["message"] == (
        "Permission denied for resource 'phy:/dev/hda1' because label "
        "'res_LogicalDiskPartition2(hda2)' is not allowed"
    )


def test_device_without_common_type_and_dangling_backend(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        # boinc's vif served by bank: they share no STE type
        store.add_device(DeviceRecord(2, "vif", 0, 1, "eth0", None, "backend=bank", ""))
        store.add_device(DeviceRecord(2, "vif", 1, 99, "eth1", None, "backend=99", ""))
    found = codes(paths)
    assert ("AUD014", "domain 'boinc' (id 2)") in found
    assert ("AUD015", "device vif eth1 of domain id 2") in found
    doc = audit(paths)[1]
    (share,) = [f for f in doc["findings"] if f["code"] == "AUD014"]
    assert share["message"] == "vif eth0 with backend 'bank' (id 1): no common STE type"


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("other_policy", [("AUD010", "resource phy:/dev/sdb")]),
        (
            "unknown_label",
            [("AUD011", "resource phy:/dev/sdc"), ("AUD011", "resource phy:/dev/sdd")],
        ),
    ],
)
def test_resource_labels(paths: HostPaths, file: str, expected: list[tuple[str, str]]) -> None:
    shutil.copyfile(AUDIT / "labels" / file, paths.resource_labels)
    assert codes(paths) == expected


def test_resource_label_file_that_does_not_parse(paths: HostPaths) -> None:
    shutil.copyfile(AUDIT / "labels" / "broken", paths.resource_labels)
    found = codes(paths)
    assert (("AUD012", f"file {paths.resource_labels}")) in found
    # without labels, bank's attached disk counts as unlabeled
    assert ("AUD013", "resource phy:/dev/hda1 of domain 'bank' (id 1)") in found
    assert paths.resource_labels.read_bytes() == (AUDIT / "labels" / "broken").read_bytes()


# ------------------------------------------------------------------ configs


CONFIG_FINDINGS = {
    "other_policy.cfg": ("AUD021", "labeled dom_HomeBanking of policy some.other.policy"),
    "unknown_label.cfg": ("AUD022", f"label 'dom_Retired' is not in {P}"),
    "resource_label.cfg": ("AUD022", f"label 'res_HardDrive(hda)' is not in {P}"),
    "syntax.cfg": ("AUD020", "line 2: syntax error"),
    "code.cfg": ("AUD020", "line 3: the name '__import__' is not allowed in a domain config"),
    "malformed_access.cfg": ("AUD020", "access_control needs both policy= and label="),
    "not_utf8.cfg": ("AUD020", "not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_FINDINGS))
def test_config_findings(paths: HostPaths, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(paths.root)
    shutil.copyfile(AUDIT / "configs" / name, paths.etc_xen / name)
    code, doc = audit(paths)
    assert code == 1
    (finding,) = doc["findings"]
    assert finding["object"] == f"config {paths.etc_xen / name}"
    assert finding["kind"] == "config"
    want_code, says = CONFIG_FINDINGS[name]
    assert finding["code"] == want_code
    assert says in finding["message"]
    assert not (paths.root / "AUDIT_RAN_ME").exists()


def test_auto_folder_and_ignored_files(paths: HostPaths) -> None:
    for f in (AUDIT / "ignored").iterdir():
        shutil.copyfile(f, paths.etc_xen / f.name)
    assert codes(paths) == []
    auto = paths.etc_xen / "auto"
    auto.mkdir()
    (auto / "bank").symlink_to(paths.etc_xen / "bank")  # the same file: checked once
    shutil.copyfile(AUDIT / "configs" / "other_policy.cfg", auto / "stranger")
    assert codes(paths) == [("AUD021", f"config {auto / 'stranger'}")]
    assert audit(paths)[1]["checked"]["configs"] == 4


def test_oversized_config_is_not_read(paths: HostPaths) -> None:
    big = paths.etc_xen / "big"
    big.write_bytes(b"#" * (1 << 20) + b"\n")
    assert codes(paths) == [("AUD020", f"config {big}")]


def test_configs_on_a_default_host(tmp_path: Path) -> None:
    paths = compile_example(tmp_path / "root")
    paths.etc_xen.mkdir(parents=True, exist_ok=True)
    for name in ("other_policy.cfg", "syntax.cfg"):
        shutil.copyfile(AUDIT / "configs" / name, paths.etc_xen / name)
    # no policy: labels cannot be judged, a config that does not parse can
    assert codes(paths) == [("AUD020", f"config {paths.etc_xen / 'syntax.cfg'}")]


def test_labeled_domain_without_a_policy(tmp_path: Path) -> None:
    paths = compile_example(tmp_path / "root")
    with open_store(paths) as store, store.write():
        store.add_domain("leftover", 0x00020002, 128, 1, policy=P, label="dom_HomeBanking")
    assert codes(paths) == [("AUD003", "domain 'leftover' (id 1)")]


# ------------------------------------------------------------------ counters


def test_counters_that_disagree(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        running, aggregate = store.chwall_counters(4)
        running[1] += 1  # cw_Sensitive
        aggregate[3] += 2  # cw_Distrusted
        store.set_chwall_counters(running, aggregate)
    assert codes(paths) == [
        ("AUD030", "counter running_types[cw_Sensitive]"),
        ("AUD031", "counter conflict_aggregate[cw_Distrusted]"),
    ]
    doc = audit(paths)[1]
    assert doc["findings"][0]["message"] == "is 2, but the running domains give 1"
    assert doc["findings"][1]["message"] == "is 3, but the running domains give 1"


def test_counter_of_a_type_outside_the_policy(paths: HostPaths) -> None:
    with open_store(paths) as store, store.write():
        store.add_chwall_counters({42: (1, 0)})
    (found,) = codes(paths)
    assert found == ("AUD032", "counters")


def test_unreadable_store_is_one_error(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path / "root")
    paths.state_dir.mkdir(parents=True)
    paths.state_db.write_bytes(b"this is not a database" * 100)
    run = xm_run(paths.root, "acm", "audit")
    assert run.code == 1
    assert run.out == ""
    assert "is unreadable" in run.err and run.err.count("\n") == 1


# ------------------------------------------------------------------ the label index


def test_a_config_that_needs_vmid_is_audited_by_its_label(paths: HostPaths) -> None:
    """Audit reads the label without running the config: an xmexample2-style
    config (which needs `vmid=N`) is no parse finding; its label counts."""
    vm = paths.etc_xen / "vm"
    text = (DATA / "configs" / "vmid_style.cfg").read_text()
    vm.write_text(text)
    assert codes(paths) == []
    vm.write_text(text + "access_control = ['policy=some.other.policy,label=dom_Fun']\n")
    assert codes(paths) == [("AUD021", f"config {vm}")]
