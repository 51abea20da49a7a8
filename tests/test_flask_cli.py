"""`xm acm flask` as a user types it: the export to a folder, the report
(text and --json), config rewriting, and the Chinese Wall guard it writes,
run against a stand-in `xl` on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import EXAMPLE_XML, REPO

EXAMPLE = "example.chwall_ste.client_v1"
MODULE = "acm_example_chwall_ste_client_v1"
HOST_CONFIGS = REPO / "tests" / "data" / "host"


def xm(*args: str) -> Result:
    from xm_core.cli.commands import xm as group

    return CliRunner().invoke(group, list(args), catch_exceptions=False)


def test_help() -> None:
    res = xm("acm", "flask", "--help")
    assert res.exit_code == 0
    assert "--configs" in res.output and "--json" in res.output
    assert "flask" in xm("acm", "--help").output


def test_export_writes_module_table_guard_and_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = xm("acm", "flask", str(EXAMPLE_XML), "-o", str(out))
    assert res.exit_code == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        f"{MODULE}.te", f"{MODULE}.modules.conf", f"{MODULE}.mapping",
        f"{MODULE}-cw-guard", f"{MODULE}.report.txt", f"{MODULE}.report.json",
    ])  # fmt: skip
    assert (out / f"{MODULE}.modules.conf").read_text() == f"{MODULE} = on\n"
    assert os.access(out / f"{MODULE}-cw-guard", os.X_OK)
    te = (out / f"{MODULE}.te").read_text()
    assert "type acm_vm_dom_HomeBanking_t, domain_type" in te
    assert "neverallow" in te
    mapping = (out / f"{MODULE}.mapping").read_text()
    assert "vm\tdom_Fun\tacm_vm_dom_Fun_t\tsystem_u:system_r:acm_vm_dom_Fun_t" in mapping
    assert "domain-0\tdom_SystemManagement\tdom0_t" in mapping
    # the report: each element with its file:line
    assert "Carried over:" in res.stdout and "Not expressible in FLASK:" in res.stdout
    xml = EXAMPLE_XML.read_text().splitlines()
    line = next(i for i, t in enumerate(xml, 1) if "<Name>dom_Fun</Name>" in t)
    assert f"{EXAMPLE_XML}:{line}: VM label 'dom_Fun'" in res.stdout
    assert (out / f"{MODULE}.report.txt").read_text() == res.stdout
    assert "written to" in res.stderr


def test_export_json(tmp_path: Path) -> None:
    res = xm("acm", "flask", str(EXAMPLE_XML), "-o", str(tmp_path), "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["module"] == MODULE and doc["modules_conf"] == f"{MODULE} = on"
    statuses = {r["status"] for r in doc["report"]}
    assert statuses == {"carried", "approximate", "not-expressible"}
    disks = [r for r in doc["report"] if "disk, file or vlan" in r["element"]]
    assert disks and all(r["location"].startswith(str(EXAMPLE_XML) + ":") for r in disks)
    assert doc["counts"]["carried"] == sum(r["status"] == "carried" for r in doc["report"])


def test_export_by_policy_name(host_root: Path, tmp_path: Path) -> None:
    res = xm("acm", "flask", EXAMPLE, "-o", str(tmp_path / "o"), "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["policy"] == EXAMPLE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(EXAMPLE_XML)], "Give one POLICY and -o DIR"),
        (["--configs"], "--configs needs at least one CONFIG"),
        (["--configs", "x.cfg", "-o", "d"], "-o goes with a POLICY"),
        ([str(EXAMPLE_XML), "--policy", "p", "-o", "d"], "--policy goes with --configs"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    res = xm("acm", "flask", *args)
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_bad_policy_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = REPO / "tests" / "data" / "compiler" / "acm011_ste_unknown_type.xml"
    res = xm("acm", "flask", str(bad), "-o", str(tmp_path / "out"))
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    res = xm("acm", "flask", str(EXAMPLE_XML), "-o", str(not_a_folder))
    assert res.exit_code == 1 and "not a folder" in res.stderr
    assert not_a_folder.read_text() == "x"


# ---------------------------------------------------------------- configs


def test_configs_rewritten_with_backup(tmp_path: Path) -> None:
    for name in ("bank.cfg", "fun.cfg", "unlabeled.cfg"):
        shutil.copy(HOST_CONFIGS / name, tmp_path / name)
    before = (tmp_path / "bank.cfg").read_bytes()
    res = xm("acm", "flask", "--configs", str(tmp_path), "--policy", str(EXAMPLE_XML))
    assert res.exit_code == 0, res.stderr
    bank = (tmp_path / "bank.cfg").read_text()
    assert "seclabel = 'system_u:system_r:acm_vm_dom_HomeBanking_t'\n" in bank
    assert "access_control" not in bank
    assert bank.replace(
        "seclabel = 'system_u:system_r:acm_vm_dom_HomeBanking_t'", ""
    ) == before.decode().replace(
        "access_control = ['policy=example.chwall_ste.client_v1,label=dom_HomeBanking']", ""
    )
    assert (tmp_path / "bank.cfg.acm-backup").read_bytes() == before
    assert "no access_control line" in res.stdout  # unlabeled.cfg
    assert (tmp_path / "unlabeled.cfg").read_bytes() == (
        HOST_CONFIGS / "unlabeled.cfg"
    ).read_bytes()
    # a second run changes nothing and keeps the first backup
    again = xm("acm", "flask", "--configs", str(tmp_path), "--policy", str(EXAMPLE_XML), "--json")
    assert again.exit_code == 0
    assert {c["status"] for c in json.loads(again.stdout)["configs"]} == {"unlabeled"}
    assert (tmp_path / "bank.cfg.acm-backup").read_bytes() == before


def test_configs_take_their_policy_by_name(host_root: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "fun.cfg"
    shutil.copy(HOST_CONFIGS / "fun.cfg", cfg)
    res = xm("acm", "flask", "--configs", str(cfg), "--json")
    assert res.exit_code == 0, res.stderr
    [entry] = json.loads(res.stdout)["configs"]
    assert entry["status"] == "rewritten"
    assert entry["seclabel"] == "system_u:system_r:acm_vm_dom_Fun_t"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ("unknown_label.cfg", "is not a VM label of policy"),
        ("unknown_policy.cfg", "is labelled under policy"),
        ("syntax_error.cfg", "syntax_error.cfg"),
    ],
)
def test_a_config_that_cannot_be_rewritten_is_left_alone(
    config: str, error: str, tmp_path: Path
) -> None:
    cfg = tmp_path / config
    shutil.copy(HOST_CONFIGS / config, cfg)
    ok = tmp_path / "bank.cfg"
    shutil.copy(HOST_CONFIGS / "bank.cfg", ok)
    res = xm("acm", "flask", "--configs", str(cfg), str(ok), "--policy", str(EXAMPLE_XML))
    assert res.exit_code == 1 and error in res.stderr and "Traceback" not in res.output
    assert cfg.read_bytes() == (HOST_CONFIGS / config).read_bytes()
    assert not Path(str(cfg) + ".acm-backup").exists()
    assert "seclabel" in ok.read_text()  # the others are still done


def test_a_config_that_already_has_a_seclabel_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bank.cfg"
    cfg.write_text((HOST_CONFIGS / "bank.cfg").read_text() + "seclabel = 'x:y:z'\n")
    before = cfg.read_bytes()
    res = xm("acm", "flask", "--configs", str(cfg), "--policy", str(EXAMPLE_XML))
    assert res.exit_code == 1 and "already sets seclabel" in res.stderr
    assert cfg.read_bytes() == before


def test_a_missing_config_is_one_line(tmp_path: Path) -> None:
    res = xm("acm", "flask", "--configs", str(tmp_path / "nope.cfg"))
    assert res.exit_code == 1 and "not found" in res.stderr and "Traceback" not in res.output


# ---------------------------------------------------------------- the guard

STAND_IN_XL = """#!/bin/sh
# a stand-in for xl: `xl list -Z` prints the domains in $XL_DOMAINS
[ "$1 $2" = "list -Z" ] || exit 3
echo "Name                                        ID   Mem VCPUs\tState\tTime(s)\tSecurity Label"
printf '%s\\n' "$XL_DOMAINS"
"""


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from acm.flask import export_flask, load_for_export

    folder = tmp_path_factory.mktemp("guard")
    export = export_flask(*load_for_export(EXAMPLE_XML))
    path = folder / export.guard_name
    path.write_text(export.guard)
    path.chmod(0o755)
    xl = folder / "bin" / "xl"
    xl.parent.mkdir()
    xl.write_text(STAND_IN_XL)
    xl.chmod(0o755)
    return path


def _domain(name: str, domid: int, flask_type: str) -> str:
    return f"{name:<40}{domid:>5}   512     1     -b----       1.0 system_u:system_r:{flask_type}"


def run_guard(guard: Path, running: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{guard.parent / 'bin'}:{os.environ['PATH']}",
        "XL_DOMAINS": "\n".join(running),
    }
    return subprocess.run(
        [sys.executable, str(guard), *args], capture_output=True, text=True, env=env, timeout=60
    )


DOM0 = _domain("Domain-0", 0, "dom0_t")


def test_guard_refuses_a_conflicting_start(guard: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "fun.cfg"
    cfg.write_text("name = 'fun'\nseclabel = 'system_u:system_r:acm_vm_dom_Fun_t'\n")
    res = run_guard(guard, [DOM0, _domain("bank", 3, "acm_vm_dom_HomeBanking_t")], str(cfg))
    assert res.returncode == 1
    assert res.stderr == (
        "Error: Permission denied: Chinese Wall conflict in type 'cw_Distrusted' "
        "(conflict set Protection1) with running domain 'bank' (id 3)\n"
    )


def test_guard_permits_the_rest(guard: Path, tmp_path: Path) -> None:
    running = [DOM0, _domain("bank", 3, "acm_vm_dom_HomeBanking_t")]
    for label in (
        "acm_vm_dom_HomeBanking_t",
        "acm_vm_dom_BoincClient_t",
        "acm_vm_dom_StorageDomain_t",
    ):
        res = run_guard(guard, running, "--label", f"system_u:system_r:{label}")
        assert (res.returncode, res.stderr) == (0, ""), label
    assert run_guard(guard, [DOM0], "--label", "acm_vm_dom_Fun_t").returncode == 0
    cfg = tmp_path / "plain.cfg"  # no seclabel: xl's default domU_t, outside the wall
    cfg.write_text("name = 'plain'\n")
    assert run_guard(guard, running, str(cfg)).returncode == 0


def test_guard_fails_closed_when_xl_fails(guard: Path) -> None:
    env_path = guard.parent / "bin" / "xl"
    res = subprocess.run(
        [sys.executable, str(guard), "--label", "acm_vm_dom_Fun_t"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "XL": str(env_path) + "-missing"},
    )  # fmt: skip
    assert res.returncode == 2 and res.stderr.startswith("Error: cannot run")
    assert run_guard(guard, [], "--bogus").returncode == 2


def test_export_of_a_compiled_policy_names_the_file(tmp_path: Path) -> None:
    """A `.bin` (with its `.map`) has no lines: the report gives the file."""
    binary = REPO / "tests" / "golden" / "example.chwall_ste.client_v1.bin"
    res = xm("acm", "flask", str(binary), "-o", str(tmp_path), "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["policy"] == EXAMPLE
    assert {r["location"] for r in doc["report"]} == {str(binary)}
    from_xml = xm("acm", "flask", str(EXAMPLE_XML), "-o", str(tmp_path / "x"), "--json")
    assert json.loads(from_xml.stdout)["mapping"] == doc["mapping"]
