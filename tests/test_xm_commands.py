"""The subcommands and options of Xen's man page on the host model (issue
12): help, --version, suspend/resume, dump-core, vtpm-list, the shutdown,
reboot, migrate, block-detach, restore and dmesg options; Xen's `list` and
`info` formats; Xen's error forms; and new roots as installed Xen hosts."""

# Xen's printf-style formats are the contract these tests check.
# ruff: noqa: UP031

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.hosttools import loaded_host, snapshot, xm_run
from xm_core.files.paths import INSTALLED_POLICIES, HostPaths

P = "example.chwall_ste.client_v1"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return loaded_host(tmp_path / "root").root


def domain_names(root: Path) -> list[str]:
    return [line.split()[0] for line in xm_run(root, "list").lines[1:]]


# ------------------------------------------------------------------ help and --version


def test_help_prints_the_common_commands(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "help")
    assert run.code == 0
    assert "Common 'xm' commands:" in run.out
    rows = [line.split()[0] for line in run.lines if line.startswith(" ") and line[1] != " "]
    assert rows == [
        "console", "create", "destroy", "dump-core", "help", "list", "mem-set", "migrate",
        "pause", "reboot", "restore", "resume", "save", "shell", "shutdown", "suspend", "top",
        "unpause", "uptime", "vcpu-set",
    ]  # fmt: skip
    # Xen's layout: ' %-20s %-50s', continuation lines 22 columns in
    create = next(line for line in run.lines if line.startswith(" create "))
    assert create.startswith(" create" + " " * 15) and len(create) <= 72


def test_help_long_groups_every_command_by_function(tmp_path: Path) -> None:
    from xm_core.cli.commands import XM_COMMANDS

    run = xm_run(tmp_path, "help", "--long")
    assert run.code == 0
    titles = [line for line in run.lines if line.endswith(":") and not line.startswith(" ")]
    assert titles[1:] == [
        "Domain commands:",
        "Host commands:",
        "Device commands:",
        "Access control commands:",
        "Beyond Xen:",
    ]
    listed = [line.split()[0] for line in run.lines if line.startswith(" ") and line[1] != " "]
    assert sorted(listed) == sorted(XM_COMMANDS)
    acm = run.out.split("Access control commands:")[1].split("Beyond Xen:")[0]
    first_lines = [line for line in acm.splitlines() if line[:1] == " " and line[1:2] != " "]
    assert [line.split()[0] for line in first_lines] == [
        "labels", "addlabel", "rmlabel", "getlabel", "dry-run", "resources", "makepolicy",
        "loadpolicy", "cfgbootpolicy", "dumppolicy",
        "setpolicy", "getpolicy", "resetpolicy",  # Xen 3.4's, after Xen 3.0.4's
    ]  # fmt: skip


def test_help_of_one_command_and_of_an_unknown_one(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "help", "list")
    assert run.code == 0 and run.out.startswith("Usage: xm list [OPTIONS] [DOMAINS]...")
    unknown = xm_run(tmp_path, "help", "frobnicate")
    assert (unknown.code, unknown.err) == (2, "Error: Subcommand frobnicate not found!\n")


def test_help_of_a_command_of_the_acm_group(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "help", "acm", "lint")
    assert run.code == 0 and run.out.startswith("Usage: xm acm lint [OPTIONS] PATH..."), run.err
    unknown = xm_run(tmp_path, "help", "acm", "frobnicate")
    assert (unknown.code, unknown.err) == (2, "Error: Subcommand acm frobnicate not found!\n")
    beyond = xm_run(tmp_path, "help", "list", "extra")
    assert (beyond.code, beyond.err) == (2, "Error: Subcommand list extra not found!\n")


def test_version(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "--version")
    assert run.code == 0
    assert run.out.startswith("xm (xm-acm ") and "Xen 3.0.4" in run.out


def test_xm_alone_shows_the_help_not_an_error() -> None:
    from click.testing import CliRunner

    from xm_core.cli.commands import xm

    for args in ([], ["acm"]):
        result = CliRunner().invoke(xm, args)
        text = result.stdout + result.stderr
        assert text.startswith("Usage: xm ") and "Error" not in text, text


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    for args in (["list", "--bogus"], ["frobnicate"], ["mem-set"], ["--bogus"]):
        run = xm_run(tmp_path, *args)
        assert run.code == 2, args
        assert len(run.err.splitlines()) == 1 and run.err.startswith("Error: "), run.err


# ------------------------------------------------------------------ formats


def test_list_is_xens_brief_format(root: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    run = xm_run(root, "list")
    header = "%-40s %3s %5s %5s %10s %9s" % ("Name", "ID", "Mem", "VCPUs", "State", "Time(s)")
    row = "%(name)-40s %(domid)3s %(mem)5d %(vcpus)5d %(state)10s %(cpu_time)8.1f"
    cpus = os.cpu_count() or 1
    dom0 = {"name": "Domain-0", "domid": "0", "mem": 1024, "vcpus": cpus, "state": "r-----"}
    boinc = {"name": "boinc", "domid": "1", "mem": 64, "vcpus": 1, "state": "r-----"}
    assert run.lines == [header, row % {**dom0, "cpu_time": 0.0}, row % {**boinc, "cpu_time": 0.0}]


MAN_PAGE_INFO_FIELDS = [
    "host", "release", "version", "machine", "nr_cpus", "nr_nodes", "sockets_per_node",
    "cores_per_socket", "threads_per_core", "cpu_mhz", "hw_caps", "total_memory",
    "free_memory", "xen_major", "xen_minor", "xen_extra", "xen_caps", "xen_scheduler",
    "xen_pagesize", "platform_params", "xen_changeset", "cc_compiler", "cc_compile_by",
    "cc_compile_domain", "cc_compile_date", "xend_config_format",
]  # fmt: skip


def test_info_has_every_field_of_the_man_page_in_its_order(root: Path) -> None:
    run = xm_run(root, "info")
    assert run.code == 0
    keys = [line[:23].rstrip() for line in run.lines]
    assert all(line[23:25] == ": " for line in run.lines)
    assert keys[: len(MAN_PAGE_INFO_FIELDS)] == MAN_PAGE_INFO_FIELDS
    facts = {line[:23].rstrip(): line[25:] for line in run.lines}
    assert facts["xen_caps"].startswith("xen-3.0-")
    assert facts["xend_config_format"] == "3"
    assert int(facts["nr_cpus"]) == int(facts["nr_nodes"]) * int(facts["sockets_per_node"]) * int(
        facts["cores_per_socket"]
    ) * int(facts["threads_per_core"])
    assert len(facts["hw_caps"].split(":")) == 4
    assert facts["acm_policy"] == P
    doc = json.loads(xm_run(root, "info", "--json").out)
    assert list(doc)[: len(MAN_PAGE_INFO_FIELDS)] == MAN_PAGE_INFO_FIELDS


# ------------------------------------------------------------------ error forms


def test_acm_errors_are_quoted_the_others_bare(root: Path) -> None:
    # an ACM denial in a domain command: quoted, as Xen's ACMError
    assert xm_run(root, "create", "unlabeled").err == "Error: 'Domain not labeled'\n"
    # an ACM subcommand: quoted
    run = xm_run(root, "getlabel", "res", "phy:hda9")
    assert run.err == "Error: 'Resource not labeled'\n"
    # a xend error: bare
    assert xm_run(root, "destroy", "nosuch").err == "Error: Domain 'nosuch' does not exist.\n"
    assert xm_run(root, "pause", "0").err == ("Error: Cannot pause privileged domain Domain-0.\n")


# ------------------------------------------------------------------ suspend / resume


def test_suspend_and_resume_by_name(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "suspend", "bank")
    assert (run.code, run.out, run.err) == (0, "", "")
    assert "bank" not in domain_names(root)
    image = HostPaths(root).suspended_dir / "bank.save"
    assert image.is_file()
    again = xm_run(root, "suspend", "bank")
    assert (again.code, again.err) == (1, "Error: Domain 'bank' does not exist.\n")
    resumed = xm_run(root, "resume", "--json", "bank")
    assert resumed.code == 0, resumed.err
    assert json.loads(resumed.out)["label"] == "dom_HomeBanking"
    assert "bank" in domain_names(root) and not image.exists()
    missing = xm_run(root, "resume", "bank")
    assert (missing.code, missing.err) == (1, "Error: Domain 'bank' is not suspended.\n")


def test_resume_rechecks_the_label_and_keeps_the_image_when_refused(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "suspend", "bank").code == 0
    assert xm_run(root, "create", "fun").code == 0  # in conflict with dom_HomeBanking
    before = snapshot(HostPaths(root))
    run = xm_run(root, "resume", "bank")
    assert run.code == 1
    assert run.err.startswith('Error: "Permission denied: Chinese Wall conflict in type')
    assert snapshot(HostPaths(root)) == before
    assert (HostPaths(root).suspended_dir / "bank.save").is_file()
    assert xm_run(root, "destroy", "fun").code == 0
    assert xm_run(root, "resume", "-p", "bank").code == 0
    bank = next(line for line in xm_run(root, "list").lines if line.startswith("bank "))
    assert bank.split()[4] == "--p---"


def test_a_name_with_slashes_stays_inside_the_root(root: Path) -> None:
    cfg = HostPaths(root).etc_xen / "slashed"
    cfg.write_text(
        'name = "../../../x/y"\n'
        "access_control = ['policy=example.chwall_ste.client_v1,label=dom_BoincClient']\n"
    )
    assert xm_run(root, "create", "slashed").code == 0
    assert xm_run(root, "dump-core", "../../../x/y").code == 0
    assert xm_run(root, "suspend", "../../../x/y").code == 0
    assert [p.name for p in HostPaths(root).suspended_dir.iterdir()] == [
        "..%2F..%2F..%2Fx%2Fy.save"
    ]
    assert len(list(HostPaths(root).dump_dir.iterdir())) == 1
    assert not (root.parent / "x").exists() and not (root / "x").exists()
    assert xm_run(root, "resume", "../../../x/y").code == 0


def test_suspend_refuses_domain0(root: Path) -> None:
    run = xm_run(root, "suspend", "0")
    assert (run.code, run.err) == (1, "Error: Cannot suspend privileged domain Domain-0.\n")


# ------------------------------------------------------------------ dump-core


def test_dump_core_default_file_and_format(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "dump-core", "bank")
    assert (run.code, run.out) == (0, "Dumping core of domain: bank ...\n")
    files = list((root / "var" / "xen" / "dump").iterdir())
    assert len(files) == 1 and files[0].name.endswith("-bank.1.core")
    doc = json.loads(files[0].read_text())
    assert doc["format"] == "xm-acm-core" and doc["version"] == 1
    assert doc["core"] == {"domid": 1, "live": False, "crash": False}
    assert doc["domain"]["label"] == "dom_HomeBanking"
    assert [d["frontend"] for d in doc["devices"]] == ["sda1", "eth0"]
    assert "bank" in domain_names(root)  # still running, unpaused again


def test_dump_core_to_a_file_then_crash(root: Path, tmp_path: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    target = tmp_path / "boinc.core"
    run = xm_run(root, "dump-core", "-L", "-C", "boinc", str(target))
    assert run.code == 0
    assert run.lines == ["Dumping core of domain: boinc ...", "Destroying domain: boinc ..."]
    assert json.loads(target.read_text())["core"] == {"domid": 1, "live": True, "crash": True}
    assert "boinc" not in domain_names(root)


def test_dump_core_into_a_missing_folder_names_the_users_path(root: Path, tmp_path: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    target = tmp_path / "no" / "such" / "dir" / "boinc.core"
    run = xm_run(root, "dump-core", "boinc", str(target))
    assert (run.code, run.err) == (1, f"Error: No such file or directory: {target}\n")
    assert ".tmp" not in run.err
    assert "boinc" in domain_names(root)


def test_save_into_a_missing_folder_names_the_users_path(root: Path, tmp_path: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    target = tmp_path / "nope" / "boinc.save"
    run = xm_run(root, "save", "boinc", str(target))
    assert (run.code, run.err) == (1, f"Error: No such file or directory: {target}\n")
    assert "boinc" in domain_names(root)


# ------------------------------------------------------------------ vtpm-list


def test_vtpm_list(root: Path) -> None:
    cfg = HostPaths(root).etc_xen / "tpm"
    cfg.write_text(
        'name = "tpm"\n'
        f"access_control = ['policy={P},label=dom_BoincClient']\n"
        "vtpm = ['instance=1,backend=0', 'instance=2']\n"
    )
    assert xm_run(root, "create", "tpm").code == 0
    run = xm_run(root, "vtpm-list", "tpm")
    assert run.lines == [
        "Idx  BE handle state evt-ch ring-ref BE-path",
        "0     0    0     4      -1     -1    /local/domain/0/backend/vtpm/1/0  ",
        "1     0    1     4      -1     -1    /local/domain/0/backend/vtpm/1/1  ",
    ]
    long = xm_run(root, "vtpm-list", "-l", "tpm")
    assert long.lines[:4] == ["(vtpm", "    (handle 0)", "    (instance 1)", "    (backend 0)"]
    doc = json.loads(xm_run(root, "vtpm-list", "--json", "tpm").out)
    assert [v["instance"] for v in doc["vtpms"]] == ["1", "2"]
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(root, "vtpm-list", "boinc").out == ""  # no vtpm: nothing, as Xen


# ------------------------------------------------------------------ options


def test_shutdown_options(root: Path) -> None:
    for cfg in ("bank", "boinc"):
        assert xm_run(root, "create", cfg).code == 0
    rebooted = xm_run(root, "shutdown", "-R", "--json", "boinc")
    assert rebooted.code == 0 and json.loads(rebooted.out)[0]["action"] == "rebooted"
    assert xm_run(root, "domid", "boinc").out == "3\n"
    both = xm_run(root, "shutdown", "-H", "-R", "boinc")
    assert (both.code, both.err) == (2, "Error: -H and -R cannot be combined\n")
    assert xm_run(root, "shutdown", "--halt", "--wait", "boinc").code == 0
    assert xm_run(root, "shutdown", "--all", "-w").code == 0
    assert domain_names(root) == ["Domain-0"]


def test_reboot_long_options(root: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(root, "reboot", "--all", "--wait").code == 0
    assert xm_run(root, "domid", "boinc").out == "2\n"


def test_migrate_resource_option(root: Path, tmp_path: Path) -> None:
    other = loaded_host(tmp_path / "other").root
    assert xm_run(root, "create", "boinc").code == 0
    bad = xm_run(root, "migrate", "-r", "0", "boinc", str(other))
    assert bad.code == 2 and bad.err.startswith("Error: Invalid resource limit (Mb/s) '0'")
    run = xm_run(root, "migrate", "--resource", "100", "--json", "boinc", str(other))
    assert run.code == 0, run.err
    assert json.loads(run.out)["resource"] == 100
    assert "at most 100 Mb/s" in xm_run(other, "log").out


def test_block_detach_force(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "block-detach", "-f", "bank", "sda1").code == 0
    assert "vbd sda1 detached from domain bank (forced)" in xm_run(root, "log").out
    assert xm_run(root, "network-detach", "--force", "bank", "0").code == 0


def test_restore_paused(root: Path, tmp_path: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    image = tmp_path / "boinc.save"
    assert xm_run(root, "save", "boinc", str(image)).code == 0
    assert xm_run(root, "restore", "--paused", str(image)).code == 0
    boinc = next(line for line in xm_run(root, "list").lines if line.startswith("boinc "))
    assert boinc.split()[4] == "--p---"


# ------------------------------------------------------------------ network-attach checks


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("ip=10.0.0.300", "Invalid IP address '10.0.0.300'"),
        ("ip=fe80::1", "Invalid IP address 'fe80::1'"),
        ("ip=", "Invalid IP address ''"),
        ("mac=00:16:3e:00:00", "Invalid MAC address '00:16:3e:00:00'"),
        ("mac=01:16:3e:00:00:01", "a multicast address"),
    ],
)
def test_network_attach_validates_ip_and_mac(root: Path, setting: str, message: str) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    before = snapshot(HostPaths(root))
    run = xm_run(root, "network-attach", "boinc", setting)
    assert run.code == 2 and len(run.err.splitlines()) == 1
    assert run.err.startswith("Error: ") and message in run.err
    assert snapshot(HostPaths(root)) == before


def test_network_attach_refuses_a_mac_in_use(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0  # has 00:16:3e:00:00:01
    assert xm_run(root, "create", "boinc").code == 0
    before = snapshot(HostPaths(root))
    run = xm_run(root, "network-attach", "boinc", "mac=00:16:3E:00:00:01")
    assert (run.code, run.err) == (
        1,
        "Error: MAC address 00:16:3e:00:00:01 is already used by domain 'bank'\n",
    )
    assert snapshot(HostPaths(root)) == before
    ok = xm_run(root, "network-attach", "boinc", "ip=10.0.0.2 10.0.0.3", "mac=00:16:3e:00:00:09")
    assert ok.code == 0, ok.err


# ------------------------------------------------------------------ new host roots


def test_a_new_root_is_an_installed_xen_host(tmp_path: Path) -> None:
    root = tmp_path / "new"
    refused = xm_run(root, "list")  # a read-only command never creates a root
    assert refused.code == 1 and not root.exists()
    root.mkdir()  # an empty folder is installed for any command
    assert xm_run(root, "list").code == 0
    policies = HostPaths(root).policies
    assert sorted(str(p.relative_to(policies)) for p in policies.rglob("*.xml")) == [
        "example/chwall/client_v1-security_policy.xml",
        "example/chwall_ste/client_v1-security_policy.xml",
        "example/ste/client_v1-security_policy.xml",
    ]
    assert (policies / "security_policy.xsd").is_file()
    assert (root / "boot" / "grub" / "menu.lst").is_file()
    for name in INSTALLED_POLICIES:
        assert xm_run(root, "makepolicy", name).code == 0, name


def test_a_relative_xdg_data_home_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XDG spec: a relative path in XDG_DATA_HOME is invalid and ignored,
    else the host root would move with the working folder."""
    from xm_core.files.paths import default_user_root

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    assert default_user_root() == tmp_path / "home" / ".local" / "share" / "xm-acm" / "root"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_user_root() == tmp_path / "data" / "xm-acm" / "root"


def test_an_existing_root_is_not_seeded(tmp_path: Path) -> None:
    root = tmp_path / "used"
    root.mkdir()
    (root / "something").write_text("x")
    assert xm_run(root, "list").code == 0
    assert not HostPaths(root).policies.exists()


def test_the_man_pages_worked_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "host"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myconfig.xm").write_text(
        'kernel = "/boot/vmlinuz-2.6.16-xen"\n'
        'ramdisk="/boot/U1_home_banking_ramdisk.img"\n'
        "memory = 164\n"
        'name = "homebanking"\n'
        "vif = [ '' ]\n"
        'dhcp = "dhcp"\n'
    )
    steps = [
        ["makepolicy", P],
        ["loadpolicy", P],
        ["cfgbootpolicy", P],
        ["labels", P, "type=dom"],
        ["addlabel", "dom_HomeBanking", "dom", "myconfig.xm"],
        ["addlabel", "res_LogicalDiskPartition1(hda1)", "res", "phy:hda6"],
        ["create", "myconfig.xm"],
        ["block-attach", "homebanking", "phy:hda6", "sda2", "w"],
        ["list", "--label"],
        ["resources"],
    ]
    results = {}
    for args in steps:
        run = xm_run(root, *args)
        assert run.code == 0, (args, run.err)
        results[args[0]] = run.lines
    assert results["labels"] == [
        "dom_BoincClient", "dom_Fun", "dom_HomeBanking", "dom_NetworkDomain",
        "dom_StorageDomain", "dom_SystemManagement",
    ]  # fmt: skip
    assert results["list"][1].split()[0] == "homebanking"
    assert results["list"][1].endswith(" dom_HomeBanking")
    assert results["resources"] == [
        "phy:/dev/hda6",
        f"    policy: {P}",
        "    label:  res_LogicalDiskPartition1(hda1)",
    ]


# ------------------------------------------------------------------ demo


def test_demo_refuses_a_non_empty_root(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    run = xm_run(tmp_path, "demo")
    assert run.code == 2
    assert run.err == f"Error: xm demo needs a new or empty host root: '{tmp_path}' is not empty\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_demo_refuses_a_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("keep me")
    run = xm_run(tmp_path / "f", "demo")
    assert run.code == 2
    root = tmp_path / "f"
    assert run.err == f"Error: xm demo needs a new or empty host root: '{root}' is not a folder\n"
    assert (tmp_path / "f").read_text() == "keep me"


def test_demo_exits_non_zero_when_a_step_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xm_core.cli.demo as demo

    monkeypatch.setitem(demo.DEMO_CONFIGS, "boinc", ("dom_NoSuchLabel", 128))
    run = xm_run(tmp_path / "d", "demo")
    assert run.code == 1
    assert "Error: demo step 'xm create boinc    # label dom_NoSuchLabel' did not end" in run.err
    assert "Started domain bank" in run.out  # the other steps still ran and show
