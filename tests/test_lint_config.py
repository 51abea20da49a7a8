"""acm-lint.toml (disable, severity, trusted, policy_root), its discovery,
broken configurations, and inline suppression comments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from acm.errors import Severity
from acm.lint import LintUsageError, find_config, lint_paths, load_config
from acm.lint.config import inline_disabled
from tests.conftest import DATA, EXAMPLE_XML

LINT_DATA = DATA / "lint"


def _copy(stem: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}-security_policy.xml"
    shutil.copy(LINT_DATA / target.name, target)
    return target


def _codes(path: Path, config: Path | None = None) -> list[tuple[str, Severity]]:
    report = lint_paths([str(path)], str(config) if config else None)
    return [(d.code, d.severity) for d in report.findings]


def test_disable(tmp_path: Path) -> None:
    policy = _copy("acm026_unused_type", tmp_path)
    assert _codes(policy) == [("ACM026", Severity.INFO)]
    (tmp_path / "acm-lint.toml").write_text('disable = ["ACM026"]\n')
    assert _codes(policy) == []


def test_severity_override(tmp_path: Path) -> None:
    policy = _copy("acm030_bridge_vm", tmp_path)
    (tmp_path / "acm-lint.toml").write_text('[severity]\nACM030 = "error"\n')
    report = lint_paths([str(policy)])
    assert [(d.code, d.severity) for d in report.findings] == [("ACM030", Severity.ERROR)]
    assert report.exit_status(Severity.ERROR) == 1


def test_compiler_findings_can_be_configured_too(tmp_path: Path) -> None:
    policy = _copy("acm023_type_twice_in_label", tmp_path)
    (tmp_path / "acm-lint.toml").write_text('[severity]\nACM023 = "info"\n')
    assert _codes(policy) == [("ACM023", Severity.INFO)]


def test_trusted(tmp_path: Path) -> None:
    policy = _copy("acm030_bridge_resource", tmp_path)
    (tmp_path / "acm-lint.toml").write_text('trusted = ["res_ab"]\n')
    assert _codes(policy) == []


def test_policy_root(tmp_path: Path) -> None:
    policy = _copy("clean", tmp_path / "site" / "web")
    assert _codes(policy) == []  # no root known: only the stem is compared
    (tmp_path / "acm-lint.toml").write_text('policy_root = "site"\n')
    report = lint_paths([str(policy)])
    (finding,) = report.findings
    assert finding.code == "ACM018" and "expected 'web.clean'" in finding.message


def test_nearest_configuration_wins(tmp_path: Path) -> None:
    policy = _copy("acm026_unused_type", tmp_path / "a" / "b")
    (tmp_path / "acm-lint.toml").write_text('disable = ["ACM026"]\n')
    (tmp_path / "a" / "acm-lint.toml").write_text('[severity]\nACM026 = "warning"\n')
    assert find_config(policy.parent) == tmp_path / "a" / "acm-lint.toml"
    assert _codes(policy) == [("ACM026", Severity.WARNING)]


def test_config_option_wins_over_discovery(tmp_path: Path) -> None:
    policy = _copy("acm026_unused_type", tmp_path)
    (tmp_path / "acm-lint.toml").write_text('disable = ["ACM026"]\n')
    other = tmp_path / "other.toml"
    other.write_text("")
    assert _codes(policy, other) == [("ACM026", Severity.INFO)]


def test_each_file_gets_its_own_configuration(tmp_path: Path) -> None:
    quiet = _copy("acm026_unused_type", tmp_path / "quiet")
    loud = _copy("acm031_long_name", tmp_path / "loud")
    (tmp_path / "quiet" / "acm-lint.toml").write_text('disable = ["ACM026", "ACM031"]\n')
    report = lint_paths([str(quiet), str(loud)])
    assert [d.code for d in report.findings] == ["ACM031"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("disable = [", "invalid TOML"),
        ('disabel = ["ACM026"]', "unknown key 'disabel'"),
        ('disable = "ACM026"', "'disable' must be a list of strings"),
        ('disable = ["ACM999"]', "unknown rule code 'ACM999' in 'disable'"),
        ('disable = ["ACM001"]', "ACM001 cannot be changed"),
        ("trusted = [1]", "'trusted' must be a list of strings"),
        ('severity = "error"', "'severity' must be a table"),
        ('[severity]\nACM030 = "fatal"', "severity of ACM030 must be"),
        ('[severity]\nACM002 = "info"', "ACM002 cannot be changed"),
        ("policy_root = 3", "'policy_root' must be a string"),
    ],
)
def test_broken_configuration(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "acm-lint.toml"
    config.write_text(text + "\n")
    with pytest.raises(LintUsageError) as caught:
        load_config(config)
    assert message in caught.value.message
    assert caught.value.message.startswith(str(config))
    assert "\n" not in caught.value.message
    # discovered or given, a broken configuration stops the run before any check
    policy = _copy("clean", tmp_path)
    with pytest.raises(LintUsageError):
        lint_paths([str(policy)])


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(LintUsageError, match="cannot read configuration"):
        lint_paths([str(EXAMPLE_XML)], str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    ("comments", "codes"),
    [
        ([(" acm-lint: disable=ACM026,ACM031 ", 2)], {"ACM026", "ACM031"}),
        ([(" acm-lint: disable = acm026 ", 2)], {"ACM026"}),
        ([("acm-lint:disable=ACM026 ACM030", 2)], {"ACM026", "ACM030"}),
        ([(" acm-lint: disable=ACM001,ACM999 ", 2)], set()),  # not disable-able / unknown
        ([(" nothing to see ", 2)], set()),
    ],
)
def test_inline_disabled(comments: list[tuple[str, int]], codes: set[str]) -> None:
    assert inline_disabled(comments) == codes


def test_inline_suppression_anywhere_in_the_file(tmp_path: Path) -> None:
    text = (LINT_DATA / "acm026_unused_type-security_policy.xml").read_text()
    text = text.replace(
        "</SecurityLabelTemplate>", "<!-- acm-lint: disable=ACM026 -->\n  </SecurityLabelTemplate>"
    )
    policy = tmp_path / "acm026_unused_type-security_policy.xml"
    policy.write_text(text)
    assert _codes(policy) == []
