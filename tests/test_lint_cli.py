"""`xm acm lint` / `acm-lint` as a user types them: formats, exit status,
SARIF against the SARIF 2.1.0 schema, GitHub workflow commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner, Result

from acm.errors import Diagnostic, Location
from tests.conftest import DATA, EXAMPLE_XML, REPO
from xm_core.cli.commands import xm
from xm_core.render.lint import github_line, text_line

LINT_DATA = DATA / "lint"
SARIF_SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-2.1.0.json"
TEXT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): "
    r"(?P<sev>error|warning|info) (?P<code>ACM\d{3}): (?P<msg>.+)$"
)


def lint(*args: str) -> Result:
    return CliRunner().invoke(xm, ["acm", "lint", *args])


def _copy(stem: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}-security_policy.xml"
    shutil.copy(LINT_DATA / target.name, target)
    return target


def test_help() -> None:
    result = lint("--help")
    assert result.exit_code == 0
    for option in ("--format", "--fail-level", "--config", "PATH..."):
        assert option in result.output
    listing = CliRunner().invoke(xm, ["acm", "--help"])
    assert listing.exit_code == 0 and "lint" in listing.output


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    """The `acm-lint` console script (xm_core.cli.commands:lint_main), as CI runs it."""
    code = "import sys; from xm_core.cli.commands import lint_main; lint_main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_acm_lint_script() -> None:
    helped = _script("--help")
    assert helped.returncode == 0 and "--fail-level" in helped.stdout
    ran = _script("policies")
    assert ran.returncode == 0
    assert ran.stdout.splitlines()[0].startswith(
        "policies/example/chwall_ste/client_v1-security_policy.xml:83:9: warning ACM030: "
    )
    assert ran.stderr == "acm-lint: 4 findings (0 errors, 2 warnings, 2 info) in 1 file\n"


def test_text_format_on_the_example() -> None:
    result = lint(str(EXAMPLE_XML))
    assert result.exit_code == 0  # warnings and infos only; the fail level is error
    lines = result.stdout.splitlines()
    parsed = [TEXT_LINE.match(line) for line in lines]
    assert all(parsed)
    assert [(m["line"], m["col"], m["sev"], m["code"]) for m in parsed if m] == [
        ("83", "9", "warning", "ACM030"),
        ("93", "9", "warning", "ACM030"),
        ("114", "9", "info", "ACM031"),
        ("118", "9", "info", "ACM031"),
    ]
    assert all(m["file"] == str(EXAMPLE_XML) for m in parsed if m)
    assert "4 findings" in result.stderr


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_max_prints_at_most_n_findings_of_a_file_then_how_many_more(fmt: str) -> None:
    full = lint("--format", fmt, str(EXAMPLE_XML)).stdout.splitlines()
    result = lint("--format", fmt, "--max", "1", str(EXAMPLE_XML))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [full[0], f"{EXAMPLE_XML}: ... and 3 more findings"]
    assert "4 findings" in result.stderr  # the summary counts every finding
    nothing = lint("--max", "0", str(EXAMPLE_XML)).stdout.splitlines()
    assert nothing == [f"{EXAMPLE_XML}: ... and 4 more findings"]
    # json carries every finding whatever --max says
    doc = json.loads(lint("--format", "json", "--max", "1", str(EXAMPLE_XML)).stdout)
    assert len(doc["findings"]) == 4


@pytest.mark.parametrize(("level", "status"), [("error", 0), ("warning", 1), ("info", 1)])
def test_fail_level(level: str, status: int) -> None:
    assert lint("--fail-level", level, str(EXAMPLE_XML)).exit_code == status


def test_info_only_fails_at_info(tmp_path: Path) -> None:
    policy = _copy("acm026_unused_type", tmp_path)
    assert lint("--fail-level", "warning", str(policy)).exit_code == 0
    assert lint("--fail-level", "info", str(policy)).exit_code == 1


def test_clean_policy_says_so() -> None:
    result = lint(str(LINT_DATA / "clean-security_policy.xml"))
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "acm-lint: no findings in 1 file\n"


def test_broken_file_is_a_finding_not_a_traceback() -> None:
    result = lint(str(LINT_DATA / "acm001_not_well_formed-security_policy.xml"))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert " error ACM001: not well-formed XML" in result.stdout
    assert "Traceback" not in result.output


def test_folder_is_searched_recursively(tmp_path: Path) -> None:
    _copy("clean", tmp_path)
    _copy("acm026_unused_type", tmp_path / "b")
    _copy("acm031_long_name", tmp_path / ".hidden")  # hidden folders are skipped
    (tmp_path / "b" / "notes.xml").write_text("<not-a-policy/>")  # not *-security_policy.xml
    result = lint("--format", "json", str(tmp_path))
    doc = json.loads(result.stdout)
    assert [Path(f).name for f in doc["files"]] == [
        "clean-security_policy.xml",
        "acm026_unused_type-security_policy.xml",
    ]
    # below the searched folder, the folder b is part of the policy's name
    assert [f["code"] for f in doc["findings"]] == ["ACM018", "ACM026"]
    assert "expected 'b.acm026_unused_type'" in doc["findings"][0]["message"]


def test_same_file_twice_is_linted_once() -> None:
    result = lint("--format", "json", str(EXAMPLE_XML), str(EXAMPLE_XML.parent))
    assert json.loads(result.stdout)["summary"]["files"] == 1


def test_json_format() -> None:
    result = lint("--format", "json", "--fail-level", "warning", str(EXAMPLE_XML))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["findings"][0] == {
        "code": "ACM030",
        "severity": "warning",
        "message": doc["findings"][0]["message"],
        "file": str(EXAMPLE_XML),
        "line": 83,
        "column": 9,
    }
    assert "dom_StorageDomain" in doc["findings"][0]["message"]
    assert doc["summary"] == {
        "files": 1,
        "findings": 4,
        "error": 0,
        "warning": 2,
        "info": 2,
        "fail_level": "warning",
        "failed": True,
    }


def _sarif(*paths: str) -> Any:
    result = lint("--format", "sarif", *paths)
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_sarif_is_valid_sarif_2_1_0() -> None:
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    every_file = sorted(str(p) for p in LINT_DATA.glob("*.xml"))
    for doc in (_sarif(str(EXAMPLE_XML)), _sarif(*every_file)):
        errors = sorted(validator.iter_errors(doc), key=str)
        assert errors == []


def test_sarif_rules_results_and_regions() -> None:
    doc = _sarif(str(EXAMPLE_XML), str(LINT_DATA / "acm002_schema_violation-security_policy.xml"))
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"ACM001", "ACM016", "ACM030", "ACM031"}
    results = run["results"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    first = results[0]
    assert (first["ruleId"], first["level"]) == ("ACM030", "warning")
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == EXAMPLE_XML.as_uri()
    assert location["region"] == {"startLine": 83, "startColumn": 9}
    assert [r["level"] for r in results] == ["warning", "warning", "note", "note", "error"]
    # a schema error points at the offending element's start tag (line 59, column 9)
    region = results[-1]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 59, "startColumn": 9}


def test_sarif_relative_paths_stay_relative() -> None:
    result = CliRunner().invoke(xm, ["acm", "lint", "--format", "sarif", "policies"])
    doc = json.loads(result.stdout)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": "policies/example/chwall_ste/client_v1-security_policy.xml"}


def test_github_format() -> None:
    result = lint("--format", "github", str(EXAMPLE_XML))
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"::warning file={EXAMPLE_XML},line=83,col=9::ACM030 VM label ")
    assert lines[2].startswith(f"::notice file={EXAMPLE_XML},line=114,col=9::ACM031 ")
    error = lint(
        "--format", "github", str(LINT_DATA / "acm010_type_declared_twice-security_policy.xml")
    )
    assert error.stdout.startswith("::error file=")
    assert "::ACM010 STE type 'ste_a' is declared more than once" in error.stdout


def test_github_escapes_properties_and_data(tmp_path: Path) -> None:
    odd = _copy("acm010_type_declared_twice", tmp_path)
    odd = odd.rename(tmp_path / "a,b:c%-security_policy.xml")
    result = lint("--format", "github", str(odd))
    error = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert error == [
        f"::error file={tmp_path}/a%2Cb%3Ac%25-security_policy.xml,line=12,col=7::"
        "ACM010 STE type 'ste_a' is declared more than once"
    ]


def test_github_line_escapes_the_message() -> None:
    finding = Diagnostic("ACM011", "type 'x\ny' is 100% unknown", Location("p.xml", 3, 4))
    assert (
        github_line(finding)
        == "::error file=p.xml,line=3,col=4::ACM011 type 'x%0Ay' is 100%25 unknown"
    )
    nowhere = Diagnostic("ACM003", "cannot read", Location("p.xml"))
    assert github_line(nowhere) == "::error file=p.xml::ACM003 cannot read"
    assert text_line(nowhere) == "p.xml: error ACM003: cannot read"


def test_text_keeps_a_message_on_one_line(tmp_path: Path) -> None:
    text = (LINT_DATA / "clean-security_policy.xml").read_text()
    policy = tmp_path / "clean-security_policy.xml"
    policy.write_text(
        text.replace(
            "<Type>ste_b</Type>\n    </Simple",
            "<Type>ste_b</Type>\n      <Type>x\ny</Type>\n    </Simple",
        )
    )
    result = lint(str(policy))
    assert result.exit_code == 1
    assert all(TEXT_LINE.match(line) for line in result.stdout.splitlines())
    assert "'x\\ny'" in result.stdout  # ACM026, with the line break shown as \n


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope-security_policy.xml"], "no such file or folder: 'nope-security_policy.xml'"),
        (["--config", "missing.toml", str(EXAMPLE_XML)], "missing.toml: cannot read configuration"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = lint(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_broken_config_exits_2(tmp_path: Path) -> None:
    policy = _copy("clean", tmp_path)
    (tmp_path / "acm-lint.toml").write_text("disable = [\n")
    result = lint(str(policy))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "acm-lint.toml: invalid TOML" in line


def test_empty_folder_exits_2(tmp_path: Path) -> None:
    result = lint(str(tmp_path))
    assert result.exit_code == 2
    assert "no *-security_policy.xml file in folder" in result.stderr


@pytest.mark.parametrize(
    "args", [[], ["--format", "xml", str(EXAMPLE_XML)], ["--fail-level", "fatal", "x"]]
)
def test_bad_options_exit_2(args: list[str]) -> None:
    assert lint(*args).exit_code == 2


def test_pre_commit_hook_runs_the_declared_script() -> None:
    """.pre-commit-hooks.yaml names the `acm-lint` script and matches policy files."""
    import tomllib

    hooks = (REPO / ".pre-commit-hooks.yaml").read_text()
    fields = dict(re.findall(r"^\s*-?\s*(id|entry|language|files): (.+)$", hooks, re.M))
    assert fields["id"] == "acm-lint" and fields["language"] == "python"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[fields["entry"]] == "xm_core.cli.commands:lint_main"
    files = re.compile(fields["files"])
    assert files.search(str(EXAMPLE_XML.relative_to(REPO)))
    assert not files.search("policies/example/chwall_ste/client_v1.map")
