"""Domain commands end to end, as typed: loadpolicy, create (and its checks),
destroy and friends, list, dry-run, dumppolicy, info, dmesg, log, uptime."""

# The spec's printf-style formats are quoted verbatim.
# ruff: noqa: UP031
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hosttools import (
    HOST_DATA,
    compile_example,
    install_configs,
    loaded_host,
    snapshot,
    xm_run,
)
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths

P = EXAMPLE_POLICY


@pytest.fixture
def root(tmp_path: Path) -> Path:
    loaded_host(tmp_path / "root")
    return tmp_path / "root"


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A DEFAULT host: example compiled, nothing loaded."""
    paths = compile_example(tmp_path / "root")
    install_configs(paths)
    return paths.root


# ------------------------------------------------------------------ help


COMMANDS = [
    "loadpolicy", "dumppolicy", "create", "dry-run", "destroy", "shutdown", "reboot", "pause",
    "unpause", "rename", "domid", "domname", "list", "uptime", "info", "dmesg", "log",
    "block-attach", "block-detach", "block-list", "network-attach", "network-detach",
    "network-list",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help(tmp_path: Path, command: str) -> None:
    run = xm_run(tmp_path, command, "--help")
    assert run.code == 0
    assert run.out.startswith(f"Usage: xm {command}")


# ------------------------------------------------------------------ a new host


def test_new_host_is_default_with_domain0(fresh: Path) -> None:
    run = xm_run(fresh, "list")
    assert run.lines == [
        "Name                                      ID   Mem VCPUs      State   Time(s)",
        "Domain-0                                   0  1024 %5d     r-----      0.0"
        % (os.cpu_count() or 1),
    ]
    label = xm_run(fresh, "list", "--label")
    assert label.lines[1].split()[-1] == "DEFAULT"
    info = xm_run(fresh, "info")
    facts = dict(line.split(" : ", 1) for line in info.lines)
    assert facts["xm_root".ljust(22)] == str(fresh)
    assert facts["acm_policy".ljust(22)] == "DEFAULT"


def test_default_policy_starts_unlabeled_refuses_labeled(fresh: Path) -> None:
    assert xm_run(fresh, "create", "unlabeled").out == "Started domain plain\n"
    run = xm_run(fresh, "create", "boinc")
    assert run.code == 1
    assert run.err == (
        f"Error: 'Security policy ({P}) incompatible with enforced policy (DEFAULT).'\n"
    )
    # Xen 3.0.4's create.py declared no `ssidref`: the config's own variable
    run = xm_run(fresh, "create", "ssidref")
    assert (run.code, run.out) == (0, "Started domain byref\n")


# ------------------------------------------------------------------ loadpolicy


def test_loadpolicy_needs_makepolicy_first(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path / "root")
    paths.seed_example()
    run = xm_run(paths.root, "loadpolicy", P)
    assert run.code == 1
    assert "Run 'xm makepolicy example.chwall_ste.client_v1' first." in run.err
    assert xm_run(paths.root, "list", "--label").lines[1].split()[-1] == "DEFAULT"


def test_loadpolicy_rejects_a_bad_name(fresh: Path) -> None:
    run = xm_run(fresh, "loadpolicy", "../etc/passwd")
    assert run.code == 2 and run.err.startswith("Error: ") and "Invalid policy name" in run.err


def test_loadpolicy_reports_a_damaged_bin_and_changes_nothing(fresh: Path) -> None:
    paths = HostPaths(fresh)
    before = snapshot(paths)
    binfile = Path(paths.policy_files(P).bin)
    data = bytearray(binfile.read_bytes())
    data[8:12] = b"\x00\x00\x10\x00"  # len field
    binfile.write_bytes(bytes(data))
    run = xm_run(fresh, "loadpolicy", P)
    assert run.code == 1
    assert "BIN001" in run.err and "len" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert snapshot(paths) == before


def test_loadpolicy_sets_domain0_label_and_counters(root: Path) -> None:
    lines = xm_run(root, "list", "--label").lines
    assert lines[1].split()[0] == "Domain-0" and lines[1].endswith("dom_SystemManagement")
    dump = xm_run(root, "dumppolicy").out
    assert "Running\nTypes:         01 00 00 00 \n" in dump  # Domain-0's cw_SystemManagement


def test_other_policy_is_refused(root: Path) -> None:
    paths = HostPaths(root)
    other = Path(paths.policy_files("other.policy").xml)
    other.parent.mkdir(parents=True)
    other.write_text(
        Path(paths.policy_files(P).xml).read_text().replace(f">{P}<", ">other.policy<")
    )
    assert xm_run(root, "makepolicy", "other.policy").code == 0
    run = xm_run(root, "loadpolicy", "other.policy")
    assert run.code == 1
    assert (
        run.err == f"Error: \"Active policy '{P}' incompatible with new policy 'other.policy'\"\n"
    )
    # an update of the same policy is fine
    assert xm_run(root, "loadpolicy", P).code == 0


def _update_policy(paths: HostPaths, edit: dict[str, str]) -> None:
    xml = Path(paths.policy_files(P).xml)
    text = xml.read_text()
    for old, new in edit.items():
        assert old in text
        text = text.replace(old, new)
    xml.write_text(text)
    assert xm_run(paths.root, "makepolicy", P).code == 0


def test_loadpolicy_that_breaks_running_domains_lists_every_violation(root: Path) -> None:
    paths = HostPaths(root)
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "create", "boinc").code == 0
    before = snapshot(paths)
    dump_before = xm_run(root, "dumppolicy").out
    _update_policy(
        paths,
        {
            # boinc's type joins the conflict set: bank and boinc now conflict
            "<Type>cw_Distrusted</Type>\n      </Conflict>": "<Type>cw_Distrusted</Type>\n"
            "        <Type>cw_Isolated</Type>\n      </Conflict>",
            # bank's partition changes its type: bank may no longer use it
            "<Name>res_LogicalDiskPartition1(hda1)</Name>\n        <SimpleTypeEnforcementTypes>"
            "<Type>ste_PersonalFinances</Type>": "<Name>res_LogicalDiskPartition1(hda1)</Name>\n"
            "        <SimpleTypeEnforcementTypes><Type>ste_DonatedCycles</Type>",
        },
    )
    run = xm_run(root, "loadpolicy", P)
    assert run.code == 1
    err = run.err.splitlines()
    assert err[0] == "Error: 'New policy conflicts with running domains. Policy load aborted.'"
    assert any("'boinc' (id 2): Chinese Wall conflict in type(s) cw_Isolated" in e for e in err)
    assert any("'bank' (id 1): Permission denied for resource 'phy:/dev/hda1'" in e for e in err)
    assert len(err) == 3
    assert snapshot(paths) == before
    assert xm_run(root, "dumppolicy").out == dump_before
    assert "Policy load aborted." in xm_run(root, "dmesg").out
    # each domain concerned reads the refusal on its console
    refused = f"ACM: policy '{P}' not loaded: "
    boinc_console = xm_run(root, "console", "-q", "boinc").out
    assert refused + "domain 'boinc' (id 2): Chinese Wall" in boinc_console
    assert (
        refused + "domain 'bank' (id 1): Permission denied"
        in xm_run(root, "console", "-q", "bank").out
    )
    json_run = xm_run(root, "loadpolicy", "--json", P)
    import json

    doc = json.loads(json_run.out)
    assert doc["loaded"] is False and len(doc["violations"]) == 2


def test_loadpolicy_refuses_a_moved_label(root: Path) -> None:
    paths = HostPaths(root)
    assert xm_run(root, "create", "boinc").code == 0
    # swap the order of two VM labels: dom_BoincClient moves to other SSIDs
    xml = Path(paths.policy_files(P).xml)
    text = xml.read_text()
    start = text.index("      <VirtualMachineLabel>\n        <Name>dom_Fun</Name>")
    mid = text.index("      <VirtualMachineLabel>\n        <Name>dom_BoincClient</Name>")
    end = text.index("      <VirtualMachineLabel>\n        <!-- Domain-0 needs")
    text = text[:start] + text[mid:end] + text[start:mid] + text[end:]
    xml.write_text(text)
    assert xm_run(root, "makepolicy", P).code == 0
    run = xm_run(root, "loadpolicy", P)
    assert run.code == 1
    assert "label 'dom_BoincClient' moved from ssidref 0x00040004 to 0x00030003" in run.err


# ------------------------------------------------------------------ create


def test_chinese_wall_denial_explained(root: Path) -> None:
    paths = HostPaths(root)
    assert xm_run(root, "create", "bank").out == "Started domain bank\n"
    before = snapshot(paths)
    run = xm_run(root, "create", "fun")
    assert run.code == 1
    err = run.err.splitlines()
    assert err[0] == (
        "Error: \"Permission denied: Chinese Wall conflict in type 'cw_Distrusted' "
        "(conflict set Protection1) with running domain 'bank' (id 1)\""
    )
    assert "conflict set Protection1 {cw_Sensitive, cw_Distrusted}" in err[1]
    assert snapshot(paths) == before
    dmesg = xm_run(root, "dmesg").lines
    assert dmesg[-1] == "(XEN) chwall_pre_domain_create: CHINESE WALL CONFLICT in type 03."
    xm_run(root, "destroy", "bank")
    assert xm_run(root, "create", "fun").code == 0


def test_create_json(root: Path) -> None:
    import json

    doc = json.loads(xm_run(root, "create", "--json", "boinc").out)
    assert doc["created"] is True and doc["ssidref"] == 0x00040004
    assert doc["create_check"]["permitted"] is True
    xm_run(root, "create", "bank")
    denied = xm_run(root, "create", "--json", "fun", "name=fun2")
    assert denied.code == 1
    doc = json.loads(denied.out)
    assert doc["created"] is False
    assert doc["create_check"]["conflicts"][0]["blockers"] == [{"domid": 2, "name": "bank"}]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("unlabeled", "Error: 'Domain not labeled'"),
        ("unknown_label", "Error: \"Label 'dom_DoesNotExist' not found.\""),
        (
            "unknown_policy",
            "Error: 'Security policy (some.other.policy) incompatible with enforced "
            f"policy ({P}).'",
        ),
        (
            "fun disk=['phy:hda1,sda1,w']",
            "Error: \"Permission denied for resource 'phy:/dev/hda1' because label "
            "'res_LogicalDiskPartition1(hda1)' is not allowed\"",
        ),
        ("unlabeled_disk", "Error: \"Resource 'file:/img/x.img' is not labeled\""),
        ("bad_disk", "disk 'hda1,sda1,w': Resource spec 'hda1' contains no ':' delimiter"),
        ("code_import", "import of 'subprocess' is not allowed in a domain config"),
        ("code_call", "the name '__import__' is not allowed in a domain config"),
        ("syntax_error", "syntax error"),
        ("bad_memory", "'memory' must be an integer from 1 to 16777216, not 'lots'"),
        ("bad_access", "access_control needs both policy= and label="),
    ],
)
def test_bad_configs_fail_cleanly_and_change_nothing(
    root: Path, config: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = HostPaths(root)
    monkeypatch.chdir(root)
    before = snapshot(paths)
    run = xm_run(root, "create", *config.split(" "))
    assert run.code == (2 if config == "bad_memory" else 1)
    assert len(run.err.splitlines()) == 1, run.err
    assert run.err.startswith("Error: ")
    assert message in run.err
    assert "Traceback" not in run.err
    assert snapshot(paths) == before
    assert not (root / "XM_ACM_PWNED").exists()


def test_every_disk_is_checked_before_the_domain_exists(root: Path) -> None:
    run = xm_run(root, "create", "unlabeled_disk")
    assert run.code == 1
    assert [d.split()[0] for d in xm_run(root, "list").lines[1:]] == ["Domain-0"]


def test_overrides_and_dev_null(root: Path) -> None:
    run = xm_run(
        root,
        "create",
        "/dev/null",
        "name=web",
        "memory=512",
        f"access_control=['policy={P},label=dom_BoincClient']",
    )
    assert run.out == "Started domain web\n", run.err
    row = xm_run(root, "list", "web").lines[1].split()
    assert row[:3] == ["web", "1", "512"]
    missing = xm_run(root, "create", "/dev/null")
    assert missing.code == 1 and "/dev/null: Missing domain name" in missing.err
    assert missing.err.endswith("set 'name' in the config or give name=...\n")


def test_an_empty_name_outside_a_config_gets_no_config_hint(root: Path) -> None:
    """rename and resume take the name on the command line: no config to fix."""
    label = f"access_control=['policy={P},label=dom_BoincClient']"
    assert xm_run(root, "create", "/dev/null", "name=web", label).code == 0
    for args in (["rename", "web", ""], ["resume", ""]):
        run = xm_run(root, *args)
        assert (run.code, run.err) == (1, "Error: Missing domain name\n"), args


def test_an_ssidref_is_no_label(root: Path) -> None:
    """Xen 3.0.4's create.py declared no `ssidref` (issue 20): a config that
    sets one is an unlabeled config, refused under a policy."""
    for args in (["ssidref"], ["ssidref", "name=r2", "ssidref=0x00200020"]):
        run = xm_run(root, "create", *args)
        assert (run.code, run.err) == (1, "Error: 'Domain not labeled'\n")


def test_null_label_is_not_a_label(root: Path) -> None:
    for extra in (f"access_control=['policy={P},label=__NULL_LABEL__']", "ssidref=0"):
        run = xm_run(root, "create", "/dev/null", "name=n", extra)
        assert run.err == "Error: 'Domain not labeled'\n"
        dry = xm_run(root, "dry-run", "/dev/null", "name=n", extra)
        assert dry.lines[1:3] == ["   n: DENIED", "   --> Domain not labeled"]


def test_duplicate_name(root: Path) -> None:
    xm_run(root, "create", "boinc")
    run = xm_run(root, "create", "boinc")
    assert run.err == "Error: Domain 'boinc' already exists.\n"


# ------------------------------------------------------------------ life cycle


def test_lifecycle_commands(root: Path) -> None:
    xm_run(root, "create", "boinc")
    assert xm_run(root, "domid", "boinc").out == "1\n"
    assert xm_run(root, "domname", "1").out == "boinc\n"
    assert xm_run(root, "pause", "boinc").code == 0
    assert xm_run(root, "list", "boinc").lines[1].split()[4] == "--p---"
    assert xm_run(root, "unpause", "1").code == 0
    assert xm_run(root, "rename", "boinc", "cycles").code == 0
    assert xm_run(root, "domid", "cycles").out == "1\n"
    assert xm_run(root, "reboot", "cycles").code == 0
    assert xm_run(root, "domid", "cycles").out == "2\n"
    assert xm_run(root, "shutdown", "-w", "cycles").code == 0
    assert xm_run(root, "domid", "cycles").err == "Error: Domain 'cycles' does not exist.\n"
    dump = xm_run(root, "dumppolicy").out
    assert "Types:         01 00 00 00 \n" in dump  # only Domain-0 left


def test_domain0_is_protected(root: Path) -> None:
    for args in (["destroy", "0"], ["shutdown", "Domain-0"], ["pause", "0"], ["rename", "0", "x"]):
        run = xm_run(root, *args)
        assert run.code == 1 and "privileged domain Domain-0" in run.err


def test_shutdown_all_and_reboot_all(root: Path) -> None:
    xm_run(root, "create", "boinc")
    xm_run(root, "create", "bank")
    assert xm_run(root, "reboot", "-a").code == 0
    assert [ln.split()[1] for ln in xm_run(root, "list").lines[1:]] == ["0", "3", "4"]
    assert xm_run(root, "shutdown", "-a").code == 0
    assert len(xm_run(root, "list").lines) == 2
    assert xm_run(root, "shutdown").code == 2  # no domain: a usage error


def test_rename_to_a_taken_name(root: Path) -> None:
    xm_run(root, "create", "boinc")
    run = xm_run(root, "rename", "boinc", "Domain-0")
    assert run.err == "Error: VM name 'Domain-0' already in use by domain 0\n"


def test_create_with_console_flag_shows_the_console(root: Path) -> None:
    # no terminal on stdin: the console log is printed and the command ends
    run = xm_run(root, "create", "-c", "boinc")
    assert run.code == 0
    assert run.lines[0] == "Started domain boinc"
    assert run.lines[1].endswith(
        "Domain 'boinc' (id 1) created: 64 MiB, 1 VCPU, label "
        "dom_BoincClient (policy example.chwall_ste.client_v1), "
        "ssidref 0x00040004"
    )


def test_uptime_short(root: Path) -> None:
    xm_run(root, "create", "boinc")
    lines = xm_run(root, "uptime", "-s", "boinc").lines
    assert len(lines) == 1 and lines[0].endswith(" up  0:00, boinc (1)")


def test_reboot_refused_keeps_the_domain(root: Path) -> None:
    paths = HostPaths(root)
    xml = Path(paths.policy_files(P).xml)
    # a label with both conflicting types, loaded as an update of the policy
    xml.write_text(
        xml.read_text().replace(
            "<ChineseWallTypes><Type>cw_Isolated</Type></ChineseWallTypes>",
            "<ChineseWallTypes><Type>cw_Sensitive</Type><Type>cw_Distrusted</Type>"
            "</ChineseWallTypes>",
        )
    )
    assert xm_run(root, "makepolicy", P).code == 0
    assert xm_run(root, "loadpolicy", P).code == 0
    assert xm_run(root, "create", "boinc").code == 0  # holds both types: starts
    assert xm_run(root, "create", "bank").code == 0  # sensitive beside it: starts
    run = xm_run(root, "reboot", "boinc")
    assert run.code == 1 and "cannot be restarted" in run.err
    assert xm_run(root, "domid", "boinc").out == "1\n"


def test_uptime_dmesg_clear_and_log(root: Path) -> None:
    xm_run(root, "create", "boinc")
    up = xm_run(root, "uptime").lines
    assert up[0] == "Name                              ID Uptime"
    assert up[2].startswith("boinc                              1  0:00:0")
    assert "Started domain boinc (id 1)" in xm_run(root, "log").out
    shown = xm_run(root, "dmesg").out
    assert shown
    assert xm_run(root, "dmesg", "-c").out == shown  # Xen's -c prints, then clears
    assert xm_run(root, "dmesg").out == ""
    assert xm_run(root, "dmesg", "--clear").out == ""


# ------------------------------------------------------------------ list --label


def test_list_label_format_and_order(root: Path) -> None:
    xm_run(root, "create", "boinc")
    xm_run(root, "create", "bank")
    xm_run(root, "create", "boinc", "name=byref", "memory=128")
    lines = xm_run(root, "list", "--label").lines
    assert lines[0] == "%-32s %3s %5s %5s %5s %9s %-8s" % (
        "Name", "ID", "Mem", "VCPUs", "State", "Time(s)", "Label",
    )  # fmt: skip
    assert lines[1:] == [
        "%-32s %3s %5d %5d %10s %8.1f %9s" % (n, i, m, 1, "r-----", 0.0, lab)
        for n, i, m, lab in [
            ("boinc", "1", 64, "dom_BoincClient"),
            ("byref", "3", 128, "dom_BoincClient"),
            ("bank", "2", 256, "dom_HomeBanking"),
            ("Domain-0", "0", 1024, "dom_SystemManagement"),
        ]
    ][:3] + [lines[4]]
    assert lines[4].startswith("Domain-0") and lines[4].endswith(" dom_SystemManagement")


def test_list_long_is_an_s_expression(root: Path) -> None:
    xm_run(root, "create", "bank")
    text = xm_run(root, "list", "--long", "bank").out
    assert text.startswith("(domain\n    (domid 1)\n")
    assert f"(policy {P})" in text and "(label dom_HomeBanking)" in text
    assert "(dev sda1)" in text and "(mac 00:16:3e:00:00:01)" in text
    assert text.count("(") == text.count(")")
    assert xm_run(root, "list", "--long", "--label").code == 2


def test_list_json(root: Path) -> None:
    import json

    xm_run(root, "create", "bank")
    doc = json.loads(xm_run(root, "list", "--json", "--label").out)
    assert doc["policy"] == P
    assert [(d["name"], d["label"]) for d in doc["domains"]] == [
        ("Domain-0", "dom_SystemManagement"),
        ("bank", "dom_HomeBanking"),
    ]


def test_list_unknown_domain(root: Path) -> None:
    run = xm_run(root, "list", "nosuch")
    assert run.code == 1 and run.err == "Error: Domain 'nosuch' does not exist.\n"


# ------------------------------------------------------------------ dry-run


def test_dry_run_passed(root: Path) -> None:
    run = xm_run(root, "dry-run", "bank")
    assert run.code == 0
    assert run.lines == [
        "Checking domain:",
        "   bank: PERMITTED",
        "Checking resources:",
        "   phy:hda1: PERMITTED",
        "Checking Chinese Wall:",
        "   bank: PERMITTED",
        "Checking backend sharing:",
        "   vbd sda1 -> Domain-0: PERMITTED",
        "   vif eth0 -> Domain-0: PERMITTED",
        "Dry Run: PASSED",
    ]
    assert [d.split()[0] for d in xm_run(root, "list").lines[1:]] == ["Domain-0"]


def test_dry_run_failed_resource_and_chinese_wall(root: Path) -> None:
    xm_run(root, "create", "bank")
    run = xm_run(root, "dry-run", "unlabeled_disk", "name=img2")
    assert run.code == 1
    assert run.lines[:7] == [
        "Checking domain:",
        "   img2: PERMITTED",
        "Checking resources:",
        "   phy:hda1: PERMITTED",
        "   file:/img/x.img: DENIED",
        "   --> res: __NULL_LABEL__ (NULL)",
        f"   --> dom: dom_HomeBanking ({P})",
    ]
    assert run.lines[-1] == "Dry Run: FAILED"
    fun = xm_run(root, "dry-run", "fun")
    assert "   fun: DENIED" in fun.lines
    assert any(
        "running domain(s) holding a conflicting type: 'bank' (id 1)" in ln for ln in fun.lines
    )
    assert "   phy:hda2: PERMITTED" in fun.lines


def test_dry_run_unlabeled_domain(root: Path) -> None:
    run = xm_run(root, "dry-run", "unlabeled")
    assert run.lines == [
        "Checking domain:",
        "   plain: DENIED",
        "   --> Domain not labeled",
        "Checking resources: (skipped)",
        "Checking Chinese Wall: (skipped)",
        "Checking backend sharing: (skipped)",
        "Dry Run: FAILED",
    ]
    assert run.code == 1


def test_dry_run_json(root: Path) -> None:
    import json

    doc = json.loads(xm_run(root, "dry-run", "--json", "bank").out)
    assert doc["passed"] is True
    assert [d["frontend"] for d in doc["devices"]] == ["sda1", "eth0"]


# ------------------------------------------------------------------ dumppolicy


def test_dumppolicy_layout(root: Path) -> None:
    xm_run(root, "create", "bank")
    xm_run(root, "block-attach", "bank", "phy:hda1", "sdb1", "w!")  # unchecked sharing
    expected = (HOST_DATA / "dumppolicy_example.txt").read_text()
    assert xm_run(root, "dumppolicy").out == expected


def test_dumppolicy_without_policy(fresh: Path) -> None:
    run = xm_run(fresh, "dumppolicy")
    assert run.code == 1 and run.err == "Error: 'No policy is loaded (active policy: DEFAULT).'\n"


# ------------------------------------------------------------------ damaged state


def test_corrupt_store_is_reported_not_reset(root: Path) -> None:
    db = HostPaths(root).state_db
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    db.write_bytes(b"\0garbage" * 512)
    run = xm_run(root, "list")
    assert run.code == 1
    assert len(run.err.splitlines()) == 1 and "is unreadable" in run.err
    assert db.read_bytes() == b"\0garbage" * 512


def test_damaged_policy_record_is_reported(root: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(HostPaths(root).state_db)
    conn.execute("UPDATE policy SET compact = '{\"chwall\": 1}'")
    conn.commit()
    conn.close()
    run = xm_run(root, "create", "boinc")
    assert run.code == 1 and len(run.err.splitlines()) == 1
    assert "the loaded policy record is damaged" in run.err


def test_domid_domname_json(root: Path) -> None:
    import json

    assert json.loads(xm_run(root, "domid", "--json", "Domain-0").out) == {
        "domid": 0,
        "name": "Domain-0",
    }


def test_damaged_resource_label_file_is_reported(root: Path) -> None:
    HostPaths(root).resource_labels.write_text("resources = {'a': os.system('x')}\n")
    run = xm_run(root, "create", "bank")
    assert run.code == 1 and "Resource label file" in run.err
    assert len(run.err.splitlines()) == 1
