"""`xm acm explain`: why a domain would be permitted or denied, as typed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.hosttools import (
    HOST_DATA,
    check_schema,
    compile_example,
    install_configs,
    loaded_host,
    snapshot,
    xm_run,
)
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths

P = EXAMPLE_POLICY
ACMTEST = Path(__file__).resolve().parent / "data" / "acmtest"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    loaded_host(tmp_path / "root")
    return tmp_path / "root"


def explain_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    run = xm_run(root, "acm", "explain", *args, "--json")
    doc = json.loads(run.out)
    check_schema(doc, "explain")
    return run.code, doc


def write_config(root: Path, name: str, text: str) -> str:
    path = root / "etc" / "xen" / name
    path.write_text(text)
    return name


def test_help(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "acm", "explain", "--help")
    assert run.code == 0
    assert run.out.startswith("Usage: xm acm explain [OPTIONS] [CONFIG] [NAME=VALUE]...")
    assert "--label" in run.out and "--json" in run.out


def test_config_or_label_not_both_nor_neither(root: Path) -> None:
    both = xm_run(root, "acm", "explain", "bank", "--label", "dom_Fun")
    assert both.code == 2
    assert "Give either CONFIG or --label LABEL" in both.err
    neither = xm_run(root, "acm", "explain")
    assert neither.code == 2
    with_settings = xm_run(root, "acm", "explain", "--label", "dom_Fun", "memory=5")
    assert with_settings.code == 2


def test_permitted_names_types_resources_and_backend(root: Path) -> None:
    run = xm_run(root, "acm", "explain", "bank")
    assert run.code == 0
    assert run.lines[0].startswith("Explaining domain 'bank' labeled dom_HomeBanking (")
    assert "   --> ssidref 0x00020002" in run.lines
    assert "   --> Chinese Wall types: cw_Sensitive" in run.lines
    assert "   --> STE types: ste_PersonalFinances" in run.lines
    assert "   cw_Sensitive: PERMITTED" in run.lines
    assert (
        "   --> conflict set Protection1 {cw_Sensitive, cw_Distrusted}: "
        "no running domain holds a conflicting type"
    ) in run.lines
    assert (
        "   phy:hda1 -> res_LogicalDiskPartition1(hda1) (example.chwall_ste.client_v1): PERMITTED"
    ) in run.lines
    assert "   vbd sda1 -> Domain-0 (id 0, label dom_SystemManagement): PERMITTED" in run.lines
    assert run.lines[-1] == "Result: PERMITTED"


def test_chinese_wall_denial_names_running_domain_and_conflict_set(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "acm", "explain", "fun")
    assert run.code == 1
    assert "   cw_Distrusted: DENIED (conflict aggregate 1)" in run.lines
    assert (
        "   --> conflict set Protection1 {cw_Sensitive, cw_Distrusted}: running domain 'bank' "
        "(id 1, label dom_HomeBanking) holds cw_Sensitive"
    ) in run.lines
    assert "   --> chwall_pre_domain_create: CHINESE WALL CONFLICT in type 03." in run.lines
    assert run.lines[-1] == "Result: DENIED"


def test_label_json_lists_every_blocker(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "create", "bank", "name=bank2", "disk=['phy:hda1,sda1,w!']").code == 0
    assert xm_run(root, "create", "boinc").code == 0
    code, doc = explain_json(root, "--label", "dom_Fun")
    assert code == 1
    assert doc["permitted"] is False
    assert doc["source"] == "--label"
    assert doc["label"]["ssidref"] == 0x00030003
    assert doc["label"]["chwall_types"] == ["cw_Distrusted"]
    (blocked,) = doc["chinese_wall"]["types"]
    assert blocked["type"] == "cw_Distrusted"
    assert blocked["blocked"] is True
    assert blocked["aggregate"] == 2
    (cset,) = blocked["conflict_sets"]
    assert cset["name"] == "Protection1"
    assert cset["types"] == ["cw_Sensitive", "cw_Distrusted"]
    assert [(b["name"], b["label"], b["conflicting_types"]) for b in cset["blockers"]] == [
        ("bank", "dom_HomeBanking", ["cw_Sensitive"]),
        ("bank2", "dom_HomeBanking", ["cw_Sensitive"]),
    ]
    assert "boinc" not in json.dumps(doc["chinese_wall"])
    assert doc["resources"] == [] and doc["sharing"] == []


def test_boinc_is_never_blocked(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    code, doc = explain_json(root, "--label", "dom_BoincClient")
    assert code == 0
    (free,) = doc["chinese_wall"]["types"]
    assert free == {
        "type": "cw_Isolated",
        "blocked": False,
        "aggregate": 0,
        "conflict_sets": [],
        "blockers": [],
    }
    assert "   --> in no conflict set" in xm_run(root, "acm", "explain", "boinc").lines


def test_unlabeled_and_disallowed_resources_name_missing_types(root: Path) -> None:
    run = xm_run(root, "acm", "explain", "unlabeled_disk")
    assert run.code == 1
    assert "   file:/img/x.img -> (unlabeled): DENIED" in run.lines
    assert "   --> Resource 'file:/img/x.img' is not labeled" in run.lines
    name = write_config(
        root,
        "bank_hda2",
        f"name = 'b2'\naccess_control = ['policy={P},label=dom_HomeBanking']\n"
        "disk = ['phy:hda2,sda1,w']\n",
    )
    code, doc = explain_json(root, name)
    assert code == 1
    (res,) = doc["resources"]
    assert res["label"] == "res_LogicalDiskPartition2(hda2)"
    assert res["permitted"] is False
    assert res["domain_types"] == ["ste_PersonalFinances"]
    assert res["resource_types"] == ["ste_InternetInsecure"]
    assert res["common_types"] == []
    assert "because label 'res_LogicalDiskPartition2(hda2)' is not allowed" in res["message"]
    # the chinese wall and the backend are fine: only the resource denies
    assert doc["chinese_wall"]["permitted"] is True
    assert doc["sharing"][0]["permitted"] is True


def test_resource_of_another_policy(root: Path) -> None:
    from tests.hosttools import RESOURCE_LABELS, label_resources

    labels = dict(RESOURCE_LABELS)
    labels["phy:/dev/hda1"] = ("some.other.policy", "res_LogicalDiskPartition1(hda1)")
    label_resources(HostPaths(root), labels)
    code, doc = explain_json(root, "bank")
    assert code == 1
    (res,) = doc["resources"]
    assert res["other_policy"] is True
    assert res["label_policy"] == "some.other.policy"
    assert res["resource_types"] == []
    text = xm_run(root, "acm", "explain", "bank").out
    assert "labeled for policy some.other.policy, not the active one" in text


def test_backend_sharing_names_backend_label_and_types(root: Path) -> None:
    assert xm_run(root, "create", "storage").code == 0
    name = write_config(
        root,
        "boinc_on_storage",
        f"name = 'bs'\naccess_control = ['policy={P},label=dom_BoincClient']\n"
        "vif = ['backend=storage']\n",
    )
    code, doc = explain_json(root, name)
    assert code == 1
    (share,) = doc["sharing"]
    assert share["permitted"] is False
    assert share["backend"]["name"] == "storage"
    assert share["backend"]["label"] == "dom_StorageDomain"
    assert share["backend"]["ste_types"] == [
        "ste_PersonalFinances",
        "ste_InternetInsecure",
        "ste_PersistentStorageA",
    ]
    assert share["domain_types"] == ["ste_DonatedCycles"]
    assert share["common_types"] == []
    lines = xm_run(root, "acm", "explain", name).lines
    assert any(
        line.startswith("   vif eth0 -> storage (id 1, label dom_StorageDomain): DENIED")
        for line in lines
    )


def test_missing_backend_is_a_device_error(root: Path) -> None:
    name = write_config(
        root,
        "ghost_backend",
        f"name = 'g'\naccess_control = ['policy={P},label=dom_Fun']\nvif = ['backend=nowhere']\n",
    )
    code, doc = explain_json(root, name)
    assert code == 1
    assert doc["device_errors"] == ["vif eth0: Backend domain 'nowhere' does not exist."]


def test_label_refused(root: Path) -> None:
    run = xm_run(root, "acm", "explain", "unknown_label")
    assert run.code == 1
    assert "   dom_DoesNotExist: DENIED" in run.lines
    assert "   --> Label 'dom_DoesNotExist' not found." in run.lines
    code, doc = explain_json(root, "--label", "dom_Nope")
    assert code == 1
    assert doc["label"]["message"] == "Label 'dom_Nope' not found."
    assert doc["chinese_wall"] is None


def test_name_in_use_is_noted(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "acm", "explain", "bank")
    assert run.lines[1].startswith("note: a domain named 'bank' already runs (id 1)")
    assert explain_json(root, "bank")[1]["name_in_use"] == 1


def test_default_host(tmp_path: Path) -> None:
    paths = compile_example(tmp_path / "root")
    install_configs(paths)
    run = xm_run(paths.root, "acm", "explain", "unlabeled")
    assert run.code == 0
    assert "   --> no policy is enforced (active policy: DEFAULT)" in run.lines
    refused = xm_run(paths.root, "acm", "explain", "bank")
    assert refused.code == 1
    assert (
        f"   --> Security policy ({P}) incompatible with enforced policy (DEFAULT)."
        in refused.lines
    )
    no_label = xm_run(paths.root, "acm", "explain", "--label", "dom_Fun")
    assert no_label.code == 1
    assert "No policy is loaded (active policy: DEFAULT)" in no_label.err


def test_inconsistent_counters_are_pointed_out(root: Path) -> None:
    from xm_core.host.store import open_store

    with open_store(HostPaths(root)) as store, store.write():
        store.add_chwall_counters({1: (0, 1)})  # cw_Sensitive blocked, nobody running
    run = xm_run(root, "acm", "explain", "--label", "dom_HomeBanking")
    assert run.code == 1
    assert any("no running domain accounts for the counter" in line for line in run.lines)


def test_two_conflict_sets_attribute_each_blocker(tmp_path: Path) -> None:
    from xm_core.host.domains import create_domain
    from xm_core.host.model import load_policy
    from xm_core.host.policy import make_policy

    paths = HostPaths(tmp_path / "root")
    files = paths.policy_files("test.two_sets")
    Path(files.xml).parent.mkdir(parents=True)
    shutil.copyfile(ACMTEST / "two_sets-security_policy.xml", files.xml)
    make_policy(paths, "test.two_sets")
    load_policy(paths, "test.two_sets")
    for name, label in (("b", "dom_B"), ("c", "dom_C"), ("bc", "dom_BC")):
        cfg = paths.etc_xen / name
        cfg.write_text(
            f"name = '{name}'\naccess_control = ['policy=test.two_sets,label={label}']\n"
        )
        create_domain(paths, str(cfg))
    code, doc = explain_json(paths.root, "--label", "dom_A")
    assert code == 1
    (blocked,) = doc["chinese_wall"]["types"]
    assert blocked["aggregate"] == 4  # b, c, and bc twice (one per set)
    by_set = {
        c["name"]: [(b["name"], b["conflicting_types"]) for b in c["blockers"]]
        for c in blocked["conflict_sets"]
    }
    assert by_set == {
        "SetAB": [("b", ["cw_B"]), ("bc", ["cw_B"])],
        "SetAC": [("c", ["cw_C"]), ("bc", ["cw_C"])],
    }
    assert [b["name"] for b in blocked["blockers"]] == ["b", "c", "bc"]


def test_explain_changes_nothing(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    before = snapshot(HostPaths(root))
    from xm_core.host.store import open_store

    with open_store(HostPaths(root)) as store:
        stats, messages = store.ste_stats(), store.messages("dmesg")
    for args in (["fun"], ["bank"], ["--label", "dom_Fun"], ["unlabeled_disk"]):
        xm_run(root, "acm", "explain", *args)
    assert snapshot(HostPaths(root)) == before
    with open_store(HostPaths(root)) as store:
        assert store.ste_stats() == stats
        assert store.messages("dmesg") == messages


CONFIGS = sorted(
    p.stem
    for p in HOST_DATA.glob("*.cfg")
    if p.stem
    not in ("code_call", "code_import", "syntax_error", "bad_memory", "bad_access", "bad_disk")
)


@pytest.mark.parametrize("config", CONFIGS)
def test_verdict_agrees_with_dry_run(root: Path, config: str) -> None:
    """Explain decides with create's checks: its verdict is dry-run's."""
    assert xm_run(root, "create", "bank", "name=running_bank").code == 0
    assert xm_run(root, "create", "storage").code == 0
    dry = xm_run(root, "dry-run", config)
    explained = xm_run(root, "acm", "explain", config)
    assert explained.code == dry.code, explained.out
    doc = explain_json(root, config)[1]
    assert doc["permitted"] is (dry.code == 0)


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("code_call", "is not allowed in a domain config"),
        ("syntax_error", "syntax error"),
        ("bad_disk", "Resource spec 'hda1' contains no ':' delimiter"),
    ],
)
def test_bad_config_is_one_error_line(root: Path, config: str, says: str) -> None:
    run = xm_run(root, "acm", "explain", config, "--json")
    assert run.code == 1
    assert run.out == ""
    assert run.err.count("\n") == 1 and says in run.err
    assert not (Path.cwd() / "XM_ACM_PWNED").exists()


def test_an_ssidref_is_no_label(root: Path) -> None:
    """Xen 3.0.4's create.py declared no `ssidref` (issue 20): the config's
    own variable, so the domain is unlabeled."""
    name = write_config(root, "far", "name = 'far'\nssidref = 0x00630063\n")
    run = xm_run(root, "acm", "explain", name)
    assert run.code == 1
    assert run.lines[2:4] == ["   (no label): DENIED", "   --> Domain not labeled"]
