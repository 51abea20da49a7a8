"""One small policy per rule under tests/data/lint/ (one defect per file):
linting it gives exactly that rule's finding, with its severity and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm.errors import Diagnostic, Severity
from acm.lint import RULES, lint_paths
from acm.lint.checks.names import bad_character
from acm.lint.checks.policy_name import policy_place
from tests.conftest import DATA, EXAMPLE_XML

LINT_DATA = DATA / "lint"
E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

# stem -> the findings (code, severity, line) its one defect causes
CASES: dict[str, list[tuple[str, Severity, int]]] = {
    "clean": [],
    "acm001_not_well_formed": [("ACM001", E, 42)],
    "acm001_doctype": [("ACM001", E, 3)],
    "acm002_schema_violation": [("ACM002", E, 59)],
    "acm010_type_declared_twice": [("ACM010", E, 12)],
    "acm011_undeclared_type": [("ACM011", E, 60)],
    "acm012_conflict_set_unknown_type": [("ACM012", E, 24)],
    "acm013_conflict_set_type_twice": [("ACM013", E, 24)],
    # one per part the bootstrap is missing from
    "acm014_bootstrap_missing": [("ACM014", E, 28), ("ACM014", E, 28)],
    "acm015_duplicate_label": [("ACM015", E, 59)],
    "acm016_space_in_name": [("ACM016", E, 59)],
    "acm016_line_break_in_name": [("ACM016", E, 12)],
    "acm016_invisible_character": [("ACM016", E, 12)],
    "acm018_policy_name_mismatch": [("ACM018", W, 5)],
    "acm019_empty_name": [("ACM019", E, 59)],
    "acm020_ste_priority": [("ACM020", W, 7)],
    "acm021_label_cannot_start": [("ACM021", W, 49)],
    "acm022_label_shares_nothing": [("ACM022", W, 44)],
    "acm023_type_twice_in_label": [("ACM023", W, 56)],
    "acm024_small_conflict_set": [("ACM024", W, 25)],
    "acm025_bootstrap_in_conflict_set": [("ACM025", W, 28)],
    "acm026_unused_type": [("ACM026", I, 12)],
    "acm027_several_type_groups": [("ACM027", W, 57)],
    "acm028_unusable_resource_label": [("ACM028", W, 59)],
    "acm029_reserved_label_name": [("ACM029", E, 59)],
    "acm030_bridge_resource": [("ACM030", W, 63)],
    "acm030_bridge_vm": [("ACM030", W, 49)],
    "acm031_long_name": [("ACM031", I, 59)],
    "acm032_plain_doctype": [("ACM032", W, 3)],
    "suppressed_inline": [],  # ACM026 and ACM031, disabled by a comment
}


def _policy(stem: str) -> Path:
    return LINT_DATA / f"{stem}-security_policy.xml"


def _lint(path: Path | str) -> list[Diagnostic]:
    return lint_paths([str(path)]).findings


def test_every_data_file_has_a_case() -> None:
    files = {p.name.removesuffix("-security_policy.xml") for p in LINT_DATA.glob("*.xml")}
    assert files == set(CASES)


@pytest.mark.parametrize("stem", sorted(CASES))
def test_one_defect_per_file(stem: str) -> None:
    found = [(d.code, d.severity, d.location.line) for d in _lint(_policy(stem))]
    assert found == CASES[stem]


@pytest.mark.parametrize("stem", sorted(s for s in CASES if CASES[s]))
def test_findings_name_the_file_and_a_column(stem: str) -> None:
    for d in _lint(_policy(stem)):
        assert d.location.file == str(_policy(stem))
        # libxml2 gives schema errors no column (the writers then show column 1)
        assert d.location.column >= 1 or d.code == "ACM002"
        assert d.message and "\n" not in d.message


def test_every_lint_rule_has_a_data_file() -> None:
    covered = {code for findings in CASES.values() for code, _, _ in findings}
    # ACM003 (unreadable) and ACM017 (65536 types) are made in tmp_path below;
    # the versioned format's codes have their files in tests/data/compiler
    # (test_versioned.py lints them)
    versioned = {*(f"ACM0{n}" for n in range(40, 49)), "ACM051"}
    assert set(RULES) - covered == {"ACM003", "ACM017", *versioned}


def test_default_severities_are_the_registry_ones() -> None:
    for findings in CASES.values():
        for code, severity, _ in findings:
            assert RULES[code].severity is severity


def test_messages_say_what_is_wrong() -> None:
    (bridge,) = _lint(_policy("acm030_bridge_resource"))
    assert bridge.message == (
        "resource label 'res_ab' lets 'dom_a' and 'dom_b' exchange data although conflict "
        "set 'a_b' keeps them from running together: dom_a -[ste_a]- res_ab -[ste_b]- dom_b"
    )
    (space,) = _lint(_policy("acm016_space_in_name"))
    assert "'res b'" in space.message and "white space" in space.message
    (hidden,) = _lint(_policy("acm016_invisible_character"))
    assert "U+200B" in hidden.message
    (boot,) = _lint(_policy("acm025_bootstrap_in_conflict_set"))
    assert "'cw_sys'" in boot.message and "'cw_c'" in boot.message


def test_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    dangling = tmp_path / "policy-security_policy.xml"
    dangling.symlink_to(tmp_path / "gone")
    (finding,) = _lint(dangling)
    assert (finding.code, finding.severity, finding.location.line) == ("ACM003", E, 0)


def test_binary_garbage_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "junk-security_policy.xml"
    path.write_bytes(b"\x00\xff\xfe garbage \x89PNG")
    assert [d.code for d in _lint(path)] == ["ACM001"]


def test_more_than_65535_types(tmp_path: Path) -> None:
    types = "".join(f"<Type>t{i}</Type>\n" for i in range(65536))
    path = tmp_path / "huge-security_policy.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<SecurityPolicyDefinition xmlns="http://www.ibm.com">\n'
        "<PolicyHeader><PolicyName>huge</PolicyName></PolicyHeader>\n"
        f"<SimpleTypeEnforcement>\n<SimpleTypeEnforcementTypes>\n{types}"
        "</SimpleTypeEnforcementTypes>\n</SimpleTypeEnforcement>\n"
        "<SecurityLabelTemplate/>\n</SecurityPolicyDefinition>\n"
    )
    found = _lint(path)
    assert ("ACM017", E, 4) in [(d.code, d.severity, d.location.line) for d in found]
    # no SubjectLabels (ACM014); the declared-but-unused types are reported as info
    assert {d.code for d in found} == {"ACM014", "ACM017", "ACM026"}


def test_reserved_bootstrap_name(tmp_path: Path) -> None:
    text = _policy("clean").read_text().replace("dom0", "__NULL_LABEL__")
    path = tmp_path / "clean-security_policy.xml"
    path.write_text(text.replace("<PolicyName>clean", "<PolicyName>clean"))
    found = [(d.code, d.location.line) for d in _lint(path)]
    # the label and the bootstrap attribute that names it
    assert found == [("ACM029", 28), ("ACM029", 30)]


def test_vm_and_resource_label_may_share_a_name(tmp_path: Path) -> None:
    text = _policy("clean").read_text().replace("<Name>res_a</Name>", "<Name>dom_a</Name>")
    path = tmp_path / "clean-security_policy.xml"
    path.write_text(text)
    assert _lint(path) == []


# ---------------------------------------------------------------- ACM016 and ACM018 details


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("dom_a", None),
        ("res_HardDrive(hda)", None),
        ("Ünïcode_ok", None),
        ("a b", "white space (a space)"),
        ("a\tb", "white space (a tab)"),
        ("a\u00a0b", "white space (a no-break space)"),
        ("a\u200bb", "the invisible formatting character U+200B"),
        ("a\x7fb", "the control character U+007F"),
        ("a\nb", "a line break"),
        ("a\u202eb", "the invisible formatting character U+202E"),
        ("a\ud800b", "the surrogate character U+D800"),
    ],
)
def test_bad_character(name: str, problem: str | None) -> None:
    assert bad_character(name) == problem


def test_policy_place_below_a_policies_folder(tmp_path: Path) -> None:
    file = tmp_path / "x" / "policies" / "example" / "chwall_ste" / "client_v1-security_policy.xml"
    place = policy_place(file)
    assert place is not None and place.expected == "example.chwall_ste.client_v1"


def test_policy_place_configured_root_wins(tmp_path: Path) -> None:
    file = tmp_path / "policies" / "a" / "b" / "c-security_policy.xml"
    place = policy_place(file, policy_root=tmp_path / "policies" / "a")
    assert place is not None and place.expected == "b.c"


def test_policy_place_relative_to_the_searched_folder(tmp_path: Path) -> None:
    file = tmp_path / "tree" / "site" / "web-security_policy.xml"
    place = policy_place(file, search_root=tmp_path / "tree")
    assert place is not None and place.expected == "site.web"
    alone = policy_place(file)
    assert alone is not None and (alone.expected, alone.root) == ("web", None)


def test_policy_place_needs_the_suffix(tmp_path: Path) -> None:
    assert policy_place(tmp_path / "policy.xml") is None


def test_policies_folder_names_the_policy() -> None:
    root = LINT_DATA / "policies"
    found = [(Path(d.location.file).name, d.code, d.location.line) for d in _lint(root)]
    assert found == [("server_v2-security_policy.xml", "ACM018", 5)]
    (finding,) = _lint(root / "team" / "ste" / "server_v2-security_policy.xml")
    assert "expected 'team.ste.server_v2'" in finding.message


def test_example_policy_findings() -> None:
    """The findings docs/lint.md explains, in file order."""
    found = [(d.code, d.severity, d.location.line) for d in _lint(EXAMPLE_XML)]
    assert found == [("ACM030", W, 83), ("ACM030", W, 93), ("ACM031", I, 114), ("ACM031", I, 118)]


def test_docs_list_every_rule_with_its_severity() -> None:
    from tests.conftest import REPO

    docs = (REPO / "docs" / "lint.md").read_text()
    for rule in RULES.values():
        assert f"| {rule.code} | {rule.severity.value} | {rule.name} |" in docs


# ---------------------------------------------------------------- never a traceback

_EXAMPLE_TEXT = EXAMPLE_XML.read_bytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.integers(0, len(_EXAMPLE_TEXT)),
    length=st.integers(0, 400),
    insert=st.sampled_from(
        [b"", b"<", b"</Type>", b"<Type>x y</Type>", b"<!-- c -->", b"&amp;", b"\xff", b"]]>"]
    ),
)
def test_damaged_policies_give_findings_not_tracebacks(
    tmp_path: Path, start: int, length: int, insert: bytes
) -> None:
    damaged = _EXAMPLE_TEXT[:start] + insert + _EXAMPLE_TEXT[start + length :]
    path = tmp_path / "client_v1-security_policy.xml"
    path.write_bytes(damaged)
    for d in _lint(path):
        assert d.code in RULES
        assert d.location.file == str(path)


@given(st.text())
def test_bad_character_finds_white_space_and_control_characters(text: str) -> None:
    import unicodedata

    from acm.lint.checks.names import bad_character

    expected = any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in text)
    assert (bad_character(text) is not None) == expected
