"""The commands of Xen 3.4's policy lifecycle, typed: `setpolicy` (and
`--dry-run`), `getpolicy [--dumpxml]`, `resetpolicy`, `addlabel/getlabel/
rmlabel ... mgt` and `vif-N`, each with its `--help`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.labels_support import xm
from tests.lifecycle_support import PolicySpec, snapshot, write_config
from xm_core.files.paths import HostPaths

NAME = "lc.cli"

MENU = b"""default 0
timeout 5

title Xen 3.4 / Linux 2.6.18-xen
\troot (hd0,0)
\tkernel /boot/xen-3.4.gz
\tmodule /boot/vmlinuz-2.6.18-xen root=/dev/sda1 ro
"""


@pytest.fixture
def paths(host_root: Path) -> HostPaths:
    p = HostPaths(host_root)
    PolicySpec(NAME).write(p)
    return p


def ok(*args: str) -> str:
    r = xm(*args)
    assert r.exit_code == 0, (args, r.stderr)
    return r.stdout


def start(paths: HostPaths, name: str, label: str, extra: str = "") -> None:
    cfg = write_config(paths, name, NAME, label)
    if extra:
        with cfg.open("a") as f:
            f.write(extra + "\n")
    ok("create", str(cfg))


@pytest.mark.parametrize("command", ["setpolicy", "getpolicy", "resetpolicy"])
def test_help(command: str) -> None:
    r = xm(command, "--help")
    assert r.exit_code == 0 and r.stdout.startswith(f"Usage: xm {command}")


@pytest.mark.parametrize("command", ["addlabel", "getlabel", "rmlabel"])
def test_label_help_names_mgt_and_vif(command: str) -> None:
    r = xm(command, "--help")
    assert r.exit_code == 0 and "mgt" in r.stdout and "vif-N" in r.stdout


def test_getpolicy_on_a_new_host_shows_default(paths: HostPaths) -> None:
    assert ok("getpolicy") == (
        "Supported security subsystems   : ACM \n\n"
        "Policy name           : DEFAULT\n"
        "Policy type           : ACM\n"
        "Version of XML policy : 1.0\n"
        "Policy configuration  : loaded\n"
    )


def test_setpolicy_loads_and_makes_it_the_boot_policy(paths: HostPaths) -> None:
    paths.grub_dir.mkdir(parents=True)
    (paths.grub_dir / "menu.lst").write_bytes(MENU)
    out = ok("setpolicy", "ACM", NAME)
    assert out.startswith("Successfully set the new policy.\n")
    assert "Policy name           : lc.cli\n" in out
    assert "Policy configuration  : loaded, activated for boot\n" in out
    assert (paths.boot / f"{NAME}.bin").is_file()
    assert f"module /boot/{NAME}.bin" in (paths.grub_dir / "menu.lst").read_text()
    doc = json.loads(ok("getpolicy", "--json"))
    assert (doc["policy"], doc["loaded"], doc["boot"]) == (NAME, True, True)
    dumped = ok("getpolicy", "--dumpxml")
    assert "<PolicyName>lc.cli</PolicyName>" in dumped


def test_setpolicy_without_a_boot_menu_loads_and_says_so(paths: HostPaths) -> None:
    out = ok("setpolicy", "ACM", NAME)
    assert "Policy configuration  : loaded\n" in out
    assert "Note: not activated for boot: Boot file" in out


def test_setpolicy_reads_the_policy_from_the_current_folder(
    paths: HostPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "work"
    (here / "lc").mkdir(parents=True)
    (here / "lc" / "cwd-security_policy.xml").write_text(PolicySpec("lc.cwd").xml())
    monkeypatch.chdir(here)
    out = ok("setpolicy", "ACM", "lc.cwd")
    assert "Policy name           : lc.cwd\n" in out
    assert Path(paths.policy_files("lc.cwd").xml).is_file()  # kept in the policy tree


def test_setpolicy_errors(paths: HostPaths) -> None:
    r = xm("setpolicy", "FLASK", NAME)
    assert (r.exit_code, r.stderr) == (2, "Error: \"Unsupported policytype 'FLASK'.\"\n")
    r = xm("setpolicy", "ACM", "lc.missing")
    assert r.exit_code == 1 and "Could not read policy file" in r.stderr
    ok("setpolicy", "ACM", NAME)
    PolicySpec("lc.other").write(paths)
    r = xm("setpolicy", "ACM", "lc.other")
    assert r.exit_code == 1 and "incompatible" in r.stderr


def test_setpolicy_refusal_and_dry_run_list_every_violation(paths: HostPaths) -> None:
    ok("setpolicy", "ACM", NAME)
    start(paths, "r1", "red")
    start(paths, "g1", "green")
    PolicySpec(NAME, conflicts=[["red", "green"]]).write(paths)
    before = snapshot(paths)
    dry = xm("setpolicy", "--dry-run", "ACM", NAME)
    assert dry.exit_code == 1
    assert "(dry run, nothing changed)" in dry.stdout
    assert "Would be REFUSED" in dry.stdout and "[chwall]" in dry.stdout
    doc = json.loads(xm("setpolicy", "--dry-run", "--json", "ACM", NAME).stdout)
    assert doc["set"] is False and doc["violations"]
    r = xm("setpolicy", "ACM", NAME)
    assert r.exit_code == 1
    assert "not set: 1 violation(s)" in r.stderr and "[chwall] domain 'g1'" in r.stderr
    assert snapshot(paths) == before


def test_dry_run_of_a_good_update_changes_nothing(paths: HostPaths) -> None:
    ok("setpolicy", "ACM", NAME)
    start(paths, "r1", "red")
    PolicySpec(NAME, vm=["amber", "red", "green", "blue"]).write(paths)
    before = snapshot(paths)
    out = ok("setpolicy", "--dry-run", "ACM", NAME)
    assert "Would succeed" in out
    assert "r1 (id 1): red -> red (renumbered" in out
    assert snapshot(paths) == before
    out = ok("setpolicy", "ACM", NAME)
    assert "r1 (id 1): red -> red (renumbered" in out
    assert ok("list", "--label", "r1").split()[-1] == "red"


def test_resetpolicy(paths: HostPaths) -> None:
    ok("setpolicy", "ACM", NAME)
    ok("addlabel", "green", "res", "file:/tmp/green")
    start(paths, "g1", "green")
    r = xm("resetpolicy")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: \"Could not reset the system's policy. Try to halt all")
    ok("destroy", "g1")
    assert ok("resetpolicy") == (
        "Successfully reset the system's policy.\nOld policy not found in bootloader file.\n"
    )
    assert ok("getlabel", "res", "file:/tmp/green") == f"INV_ACM:{NAME}:green\n"
    assert "Policy name           : DEFAULT" in ok("getpolicy")
    assert xm("resetpolicy", "extra").exit_code == 2


def test_addlabel_mgt_relabels_running_domains_and_domain0(paths: HostPaths) -> None:
    ok("setpolicy", "ACM", NAME)
    start(paths, "b1", "blue")
    assert ok("addlabel", "red", "mgt", "b1") == (
        "Successfully set the label of domain 'b1' to 'red'.\n\n"
    )
    assert ok("getlabel", "mgt", "b1") == f"ACM:{NAME}:red\n"
    assert ok("list", "--label", "b1").split()[-1] == "red"
    # Domain-0 may become red (no conflict with red) but not blue
    ok("addlabel", "red", "mgt", "Domain-0")
    r = xm("addlabel", "blue", "mgt", "b1")
    assert r.exit_code == 1
    assert "VM label conflicts with another VM" in r.stderr and "[chwall]" in r.stderr
    assert ok("getlabel", "mgt", "b1") == f"ACM:{NAME}:red\n"  # unchanged
    ok("addlabel", "SystemManagement", "mgt", "Domain-0", f"ACM:{NAME}")
    ok("pause", "b1")
    ok("addlabel", "blue", "mgt", "b1")  # a paused domain too
    assert ok("getlabel", "mgt", "b1") == f"ACM:{NAME}:blue\n"
    # errors
    r = xm("addlabel", "purple", "mgt", "b1")
    assert r.exit_code == 1 and "The label is bad" in r.stderr
    assert xm("addlabel", "red", "mgt", "b1", "lc.cli").exit_code == 2  # no policy type
    r = xm("addlabel", "red", "mgt", "b1", "ACM:lc.other")
    assert r.exit_code == 1 and "invalid name" in r.stderr
    assert xm("addlabel", "red", "mgt", "nosuch").exit_code == 1
    r = xm("rmlabel", "mgt", "b1")
    assert r.exit_code == 1 and "wrong state" in r.stderr
    assert ok("getlabel", "mgt", "b1") == f"ACM:{NAME}:blue\n"


def test_relabel_must_keep_the_domains_resources(paths: HostPaths) -> None:
    ok("setpolicy", "ACM", NAME)
    ok("addlabel", "red", "res", "phy:ram1")
    start(paths, "r1", "red", "disk = ['phy:ram1,hda1,w']")
    r = xm("addlabel", "green", "mgt", "r1")
    assert r.exit_code == 1
    assert "Error accessing resource" in r.stderr and "[resource]" in r.stderr
    assert "phy:/dev/ram1" in r.stderr
    # Domain-0 serves r1's disk: it must keep an STE type r1 has
    r = xm("addlabel", "green", "mgt", "Domain-0")
    assert r.exit_code == 1 and "[sharing]" in r.stderr


def test_vif_labels(paths: HostPaths) -> None:
    ok("setpolicy", "ACM", NAME)
    start(paths, "r1", "red", "vif = ['bridge=xenbr0']")
    assert ok("getlabel", "vif-0", "r1") == "\n"
    assert ok("addlabel", "red", "vif-0", "r1") == "Successfully labeled the VIF.\n"
    assert ok("getlabel", "vif-0", "r1") == f"ACM:{NAME}:red\n"
    r = xm("addlabel", "green", "vif-0", "r1")
    assert r.exit_code == 1 and "may not use label 'green'" in r.stderr
    assert xm("addlabel", "red", "vif-1", "r1").exit_code == 2  # no second interface
    assert xm("addlabel", "red", "vif-x", "r1").exit_code == 2
    ok("rmlabel", "vif-0", "r1")
    assert ok("getlabel", "vif-0", "r1") == "\n"
    assert xm("rmlabel", "vif-0", "r1").exit_code == 1


# ------------------------------------------------------------------ hostile sources, typed


def _versioned(paths: HostPaths, **kw: object) -> None:
    spec = PolicySpec(NAME, **kw)  # type: ignore[arg-type]
    spec.write(paths)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"vm_from": {"cyan": "purple"}, "vm": ["red", "green", "cyan"]}, "ACM050"),
        (
            {"vm_from": {"cyan": "red", "magenta": "cyan"}, "vm": ["green", "cyan", "magenta"]},
            "ACM045",
        ),
        (
            {"vm_from": {"red": "green", "green": "red"}, "vm": ["red", "green", "blue"]},
            "ACM045",
        ),
        ({"version": "3000000000"}, "overflows"),
        ({"from_policy": ("lc.other", "1.0")}, "FromPolicy names policy 'lc.other'"),
        ({"from_policy": None}, "no FromPolicy"),
    ],
)
def test_hostile_updates_are_refused_whole(
    paths: HostPaths, change: dict[str, object], expected: str
) -> None:
    _versioned(paths, version="1.0")
    ok("setpolicy", "ACM", NAME)
    start(paths, "g1", "green")
    before = snapshot(paths)
    kw: dict[str, object] = {"version": "1.1", "from_policy": (NAME, "1.0"), "conflicts": []}
    kw.update(change)
    _versioned(paths, **kw)
    r = xm("setpolicy", "ACM", NAME)
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert expected in r.stderr, r.stderr
    assert snapshot(paths) == before
    dry = xm("setpolicy", "--dry-run", "ACM", NAME)
    assert dry.exit_code == 1 and "Traceback" not in dry.stderr


def test_loadpolicy_of_a_versioned_policy_takes_the_update_path(paths: HostPaths) -> None:
    _versioned(paths, version="1.0")
    ok("makepolicy", NAME)
    ok("loadpolicy", NAME)
    start(paths, "g1", "green")
    _versioned(
        paths,
        version="1.1",
        from_policy=(NAME, "1.0"),
        vm=["red", "GREEN", "blue"],
        vm_from={"GREEN": "green"},
        type_of={"GREEN": "green"},
    )
    ok("makepolicy", NAME)
    r = xm("loadpolicy", "--keep-ssidrefs", NAME)
    assert r.exit_code == 2 and "--keep-ssidrefs" in r.stderr
    out = ok("loadpolicy", NAME)
    assert out.startswith(f"Policy {NAME} version 1.1 loaded (was {NAME}).\n")
    assert "g1 (id 1): green -> GREEN (renamed" in out
    assert ok("getlabel", "mgt", "g1") == f"ACM:{NAME}:GREEN\n"
    doc = json.loads(ok("getpolicy", "--json"))
    assert (doc["version"], doc["boot"]) == ("1.1", False)
