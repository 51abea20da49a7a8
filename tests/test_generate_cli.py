"""`xm acm generate` as a user types it (click's CliRunner)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from tests.conftest import DATA, need_shared
from xm_core.cli.commands import xm
from xm_core.files.paths import POLICIES_REL

GOLDEN = DATA / "generate" / "golden"
REFUSED = DATA / "generate" / "refused"
DATE = "Sun Nov 29 12:00:00 2026"


def run(*args: str) -> Result:
    return CliRunner().invoke(xm, list(args), catch_exceptions=False)


def test_help() -> None:
    result = run("acm", "generate", "--help")
    assert result.exit_code == 0
    assert "Usage: xm acm generate [OPTIONS] WORKLOAD" in result.output
    assert "-o FILE" in result.output and "--name POLICYNAME" in result.output


def test_generate_writes_the_golden_policy_named_after_the_file(tmp_path: Path) -> None:
    out = tmp_path / "clinics-security_policy.xml"
    result = run("acm", "generate", str(GOLDEN / "clinics.toml"), "-o", str(out), "--date", DATE)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (GOLDEN / "clinics-security_policy.xml").read_bytes()
    assert result.stdout == ""
    assert result.stderr == (f"policy 'clinics': 7 types, 2 conflict sets; written to {out}\n")


def test_name_option_and_json(tmp_path: Path) -> None:
    out = tmp_path / "whatever.xml"
    result = run(
        "acm", "generate", str(GOLDEN / "airlines.json"), "-o", str(out), "--name", "air.v1",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["policy"] == "air.v1" and doc["output"] == str(out)
    assert doc["types"] == 7 and doc["conflict_sets"] == 2
    assert [w["code"] for w in doc["warnings"]] == ["WLD023"]
    assert "<PolicyName>air.v1</PolicyName>" in out.read_text()
    # The skipped rule's warning also goes to stderr, in the compiler's form.
    assert "warning WLD023: rule 3 'lonely': has fewer than two types" in result.stderr


def test_the_date_defaults_to_now_as_ezpolicy_wrote_it(tmp_path: Path) -> None:
    out = tmp_path / "e-security_policy.xml"
    assert run("acm", "generate", str(GOLDEN / "empty.json"), "-o", str(out)).exit_code == 0
    date = out.read_text().split("<Date>")[1].split("</Date>")[0]
    # time.asctime(): "Sun Nov 29 12:00:00 2026"
    assert len(date.split()) == 5 and date.split()[3].count(":") == 2


def test_a_refused_workload_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "p-security_policy.xml"
    out.write_text("old")
    workload = str(REFUSED / "organization_and_department.json")
    result = run("acm", "generate", workload, "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{workload}: error WLD021: rule 1 'r': holds the organization")
    assert "Traceback" not in result.output
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p-security_policy.xml"]


def test_a_wld_that_would_run_code_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "p-security_policy.xml"
    result = run("acm", "generate", str(REFUSED / "executes_code.wld"), "-o", str(out))
    assert result.exit_code == 1
    assert "error WLD004: the .wld holds a call where only literals may stand" in result.stderr
    assert not out.exists()


def test_missing_workload_and_bad_policy_name(tmp_path: Path) -> None:
    result = run("acm", "generate", str(tmp_path / "none.json"), "-o", str(tmp_path / "p.xml"))
    assert result.exit_code == 1
    assert "error WLD001: cannot read the workload: No such file or directory" in result.stderr
    bad = run("acm", "generate", str(GOLDEN / "empty.json"), "-o", str(tmp_path / "a b.xml"))
    assert bad.exit_code == 2 and "Invalid policy name 'a b'" in bad.stderr
    missing_o = run("acm", "generate", str(GOLDEN / "empty.json"))
    assert missing_o.exit_code == 2 and "Missing option '-o'" in missing_o.output


def test_makepolicy_compiles_it_to_ezpolicys_map_and_bin(host_root: Path) -> None:
    """The user guide's workload, generated and compiled by `xm makepolicy`,
    gives the .map and .bin of the policy ezPolicy wrote for it."""
    ref = need_shared() / "ezpolicy"
    policies = host_root / POLICIES_REL
    ours = policies / "ours" / "userguide_banks-security_policy.xml"
    theirs = policies / "theirs" / "userguide_banks-security_policy.xml"
    ours.parent.mkdir(parents=True)
    theirs.parent.mkdir(parents=True)
    shutil.copy(ref / "userguide_banks-security_policy.xml", theirs)
    made = run(
        "acm", "generate", str(ref / "userguide_banks.wld"), "-o", str(ours),
        "--date", "Sat Nov 28 12:00:00 2026",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    for name in ("ours.userguide_banks", "theirs.userguide_banks"):
        assert run("makepolicy", name).exit_code == 0
    # The .map names its own files' paths; everything else is the same.
    ours_map = (ours.parent / "userguide_banks.map").read_text().replace("/ours/", "/X/")
    theirs_map = (theirs.parent / "userguide_banks.map").read_text().replace("/theirs/", "/X/")
    assert ours_map == theirs_map
    assert (ours.parent / "userguide_banks.bin").read_bytes() == (
        theirs.parent / "userguide_banks.bin"
    ).read_bytes()


def test_an_output_folder_that_does_not_exist(tmp_path: Path) -> None:
    out = tmp_path / "no" / "p-security_policy.xml"
    result = run("acm", "generate", str(GOLDEN / "empty.json"), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"Error: 'No such folder for -o: {out.parent}'\n"


def test_a_date_xml_cannot_carry_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """The Date goes into the policy's header: a control character there is
    the option's mistake, said as such (it once surfaced as a parse error of
    the generated policy)."""
    out = tmp_path / "clinics-security_policy.xml"
    result = run(
        "acm", "generate", str(GOLDEN / "clinics.toml"), "-o", str(out), "--date", "Sun\x01Nov"
    )
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ('Error: "the header\'s Date holds the control character U+0001"\n')
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_workload_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """No writer will ever open the FIFO: the bounded reader refuses it."""
    import os

    fifo = tmp_path / "workload.json"
    os.mkfifo(fifo)
    out = tmp_path / "p-security_policy.xml"
    result = run("acm", "generate", str(fifo), "-o", str(out))
    assert result.exit_code == 1
    assert "error WLD001: cannot read the workload: it is not a regular file (a FIFO)" in (
        result.stderr
    )
    assert not out.exists()
