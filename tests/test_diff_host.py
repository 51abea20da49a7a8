"""`xm acm diff OLD NEW --host`: what loading NEW would break on the host,
decided by the host's own loadpolicy on a copy; the host is only read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hosttools import (
    check_schema,
    compile_example,
    install_configs,
    loaded_host,
    snapshot,
    xm_run,
)
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.host.store import open_store

P = EXAMPLE_POLICY
DATA = Path(__file__).resolve().parent / "data"
REORDERED = str(DATA / "analysis" / "example_reordered-security_policy.xml")
ISOLATION = str(DATA / "acmtest" / "isolation-security_policy.xml")
TWO_SETS = str(DATA / "acmtest" / "two_sets-security_policy.xml")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    loaded_host(tmp_path / "root")
    return tmp_path / "root"


def diff_json(root: Path, old: str, new: str) -> tuple[int, dict[str, Any]]:
    run = xm_run(root, "acm", "diff", old, new, "--host", "--json")
    doc = json.loads(run.out)
    check_schema(doc["host_impact"], "host_impact")
    return run.code, doc


def test_help_documents_host(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "acm", "diff", "--help")
    assert run.code == 0
    assert "--host" in run.out


def test_without_host_nothing_is_read_from_the_host(root: Path) -> None:
    run = xm_run(root, "acm", "diff", P, REORDERED)
    assert run.code == 0
    assert "Host impact" not in run.out
    assert "host_impact" not in json.loads(xm_run(root, "acm", "diff", P, REORDERED, "--json").out)


def test_same_policy_loads(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "acm", "diff", P, P, "--host")
    assert run.code == 0
    assert run.lines[-2:] == [
        f"Host impact (host root {root}, active policy {P}):",
        f"  'xm loadpolicy' of {P} would succeed: 2 domain(s) and 2 device(s) re-checked, "
        "none breaks",
    ]
    code, doc = diff_json(root, P, P)
    impact = doc["host_impact"]
    assert impact["loadable"] is True and impact["old_is_active"] is True
    assert [(r["name"], r["label_status"]) for r in impact["running"]] == [
        ("Domain-0", "kept"),
        ("bank", "kept"),
    ]


def test_renumbered_label_breaks_running_domain_and_its_disk(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "create", "boinc").code == 0
    run = xm_run(root, "acm", "diff", P, REORDERED, "--host")
    assert run.code == 1
    i = run.lines.index(f"Host impact (host root {root}, active policy {P}):")
    assert run.lines[i + 1 :] == [
        f"  'xm loadpolicy' of {P} would be REFUSED: New policy conflicts with running "
        "domains. Policy load aborted.",
        "  Running domains it would break:",
        "    domain 'bank' (id 1): label 'dom_HomeBanking' moved from ssidref 0x00020002 to "
        "0x00030003; running domains keep their ssidref (--keep-ssidrefs keeps 0x00020002, "
        "which reads as label 'dom_Fun')",
        "  Attached resources and device connections it would break:",
        "    domain 'bank' (id 1): Permission denied for resource 'phy:/dev/hda1' because label "
        "'res_LogicalDiskPartition1(hda1)' is not allowed",
        "  Running domains whose label NEW changes:",
        "    bank (id 1): dom_HomeBanking renumbered (breaks)",
    ]
    code, doc = diff_json(root, P, REORDERED)
    assert code == 1
    impact = doc["host_impact"]
    assert impact["loadable"] is False
    assert [(v["kind"], v["name"]) for v in impact["broken_domains"]] == [("label", "bank")]
    (device,) = impact["broken_devices"]
    assert (device["kind"], device["other"]) == ("resource", "phy:/dev/hda1")
    assert {r["name"]: r["broken"] for r in impact["running"]} == {
        "Domain-0": False,
        "bank": True,
        "boinc": False,
    }
    assert doc["labels"]  # the policy diff is still all there


def test_new_conflict_set_breaks_running_pair(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "create", "boinc").code == 0
    code, doc = diff_json(root, P, ISOLATION)
    assert code == 1
    (broken,) = doc["host_impact"]["broken_domains"]
    assert broken["kind"] == "chwall"
    assert broken["name"] == "boinc"
    assert broken["types"] == ["cw_Isolated"]
    assert broken["conflict_sets"] == ["Isolation"]
    assert "conflict set Isolation" in broken["message"]
    # without boinc running, the same NEW loads
    assert xm_run(root, "destroy", "boinc").code == 0
    assert diff_json(root, P, ISOLATION)[1]["host_impact"]["loadable"] is True


def test_another_policy_name_is_refused_outright(root: Path) -> None:
    code, doc = diff_json(root, P, TWO_SETS)
    assert code == 1
    impact = doc["host_impact"]
    assert impact["refusal"] == f"Active policy '{P}' incompatible with new policy 'test.two_sets'"
    assert impact["broken_domains"] == [] and impact["broken_devices"] == []


def test_old_that_is_not_the_active_policy(root: Path) -> None:
    run = xm_run(root, "acm", "diff", REORDERED, P, "--host")
    assert run.code == 0
    assert "  note: OLD is not the policy the host has loaded" in run.lines
    assert diff_json(root, REORDERED, P)[1]["host_impact"]["old_is_active"] is False


def test_default_host_with_unlabeled_devices(tmp_path: Path) -> None:
    """Unlabeled domains started under DEFAULT: their device connections fail
    the STE re-check of any policy."""
    paths = compile_example(tmp_path / "root")
    install_configs(paths)
    assert xm_run(paths.root, "create", "unlabeled").code == 0
    assert xm_run(paths.root, "network-attach", "plain").code == 0
    code, doc = diff_json(paths.root, P, P)
    assert code == 1
    impact = doc["host_impact"]
    assert impact["active_policy"] == "DEFAULT"
    assert impact["old_is_active"] is None
    assert [(v["kind"], v["name"]) for v in impact["broken_devices"]] == [("sharing", "plain")]
    assert [r["label_status"] for r in impact["running"]] == ["unlabeled", "unlabeled"]


def test_host_without_state_stays_without(tmp_path: Path) -> None:
    paths = compile_example(tmp_path / "root")
    code, doc = diff_json(paths.root, P, P)
    assert code == 0
    assert doc["host_impact"]["domains_checked"] == 1  # Domain-0 of a new host
    assert not paths.state_db.exists()


def test_host_is_only_read(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    paths = HostPaths(root)
    before = snapshot(paths)
    with open_store(paths) as store:
        messages = store.messages("dmesg") + store.messages("log")
    files = sorted(p.relative_to(root) for p in root.rglob("*") if "var" not in p.parts)
    for new in (REORDERED, P, ISOLATION):
        xm_run(root, "acm", "diff", P, new, "--host")
    assert snapshot(paths) == before
    with open_store(paths) as store:
        assert store.messages("dmesg") + store.messages("log") == messages
    assert sorted(p.relative_to(root) for p in root.rglob("*") if "var" not in p.parts) == files


def test_exit_code_and_host_together(root: Path) -> None:
    # loadable but different: --exit-code still says "differ"
    assert xm_run(root, "acm", "diff", P, ISOLATION, "--host", "--exit-code").code == 1
    assert xm_run(root, "acm", "diff", P, P, "--host", "--exit-code").code == 0
