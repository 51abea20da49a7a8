"""Policy generation from workloads (acm.authoring.workload, acm.authoring.generate): golden
files, ezPolicy's own output for its user-guide workload, one refused file
per defect class, the edit operations, and properties over random workloads."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acm.authoring.generate import default_policy_name, generate_policy, policy_xml
from acm.authoring.workload import (
    MAX_WORKLOAD_BYTES,
    Organization,
    Rule,
    Workload,
    WorkloadFormat,
    add_department,
    add_organization,
    add_rule,
    add_to_rule,
    check_workload,
    delete_department,
    delete_organization,
    delete_rule,
    format_of,
    free_text_problem,
    parse_workload,
    read_workload,
    remove_from_rule,
    rename_department,
    rename_organization,
    rename_rule,
    to_json,
    to_toml,
)
from acm.binfmt import binary_bytes
from acm.errors import PolicyError
from acm.lint.engine import lint_source
from acm.mapfile import render_map
from acm.model import CompiledPolicy, PolicyCode
from acm.source import parse_policy_source
from acm.sourcecompiler import compile_policy
from tests.conftest import DATA, need_shared
from tests.policygen import examples

GEN = DATA / "generate"
GOLDEN = GEN / "golden"
REFUSED = GEN / "refused"
DATE = "Sun Nov 29 12:00:00 2026"
WORKLOADS = sorted(p for p in GOLDEN.iterdir() if p.suffix in (".json", ".toml", ".wld"))


def _compiled(xml: bytes, file: str) -> CompiledPolicy:
    compiled, found = compile_policy(parse_policy_source(xml, file))
    assert list(found) == []
    return compiled


def _compile(xml: bytes, file: str) -> tuple[bytes, bytes]:
    compiled = _compiled(xml, file)
    return render_map(compiled.map), binary_bytes(compiled.binary)


def _serious(xml: bytes, file: str = "p.xml") -> list[str]:
    """Lint findings at warning level or above."""
    findings = lint_source(parse_policy_source(xml, file))
    return [d.format() for d in findings if d.severity.rank >= 2]


# ---------------------------------------------------------------- golden files


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda p: p.name)
def test_golden_workload_gives_its_policy(workload: Path) -> None:
    expected = GOLDEN / f"{workload.stem}-security_policy.xml"
    result = generate_policy(read_workload(str(workload)), workload.stem, DATE)
    assert result.xml.decode() == expected.read_text()
    assert _serious(result.xml) == []
    _compile(result.xml, str(expected))


def test_the_golden_files_cover_skipped_unnamed_and_legacy_rules() -> None:
    airlines = read_workload(str(GOLDEN / "airlines.json"))
    found = check_workload(airlines)
    assert found.codes() == ["WLD023"] and not found.has_errors
    xml = (GOLDEN / "airlines-security_policy.xml").read_text()
    assert xml.count('<Conflict name="RER">') == 2 and "lonely" not in xml
    legacy = read_workload(str(GOLDEN / "legacy.wld"))
    assert legacy.rules == (
        Rule("RER1", ("Acme", "Globex")),
        Rule("", ("Acme.Research", "Initech")),
    )
    empty = (GOLDEN / "empty-security_policy.xml").read_text()
    assert "<ConflictSets>" not in empty and empty.count("<VirtualMachineLabel>") == 1


# ---------------------------------------------------------------- ezPolicy itself


def test_the_user_guide_workload_gives_ezpolicys_policy() -> None:
    ref = need_shared() / "ezpolicy"
    wld, theirs = ref / "userguide_banks.wld", ref / "userguide_banks-security_policy.xml"
    ours = generate_policy(read_workload(str(wld)), "userguide_banks", "Sat Nov 28 12:00:00 2026")
    assert _compile(ours.xml, "ours.xml") == _compile(theirs.read_bytes(), "theirs.xml")
    # Beyond the .map and .bin: the very same text.
    assert ours.xml == theirs.read_bytes()


# ---------------------------------------------------------------- refused workloads

REFUSED_CODES = {
    "bad_syntax.json": ["WLD003"],
    "bad_syntax.toml": ["WLD003"],
    "bad_syntax.wld": ["WLD003"],
    "duplicate_department.toml": ["WLD012"],
    "duplicate_organization.json": ["WLD012"],
    "empty_name.json": ["WLD010"],
    "executes_code.wld": ["WLD004"],
    "operator.wld": ["WLD004"],
    "organization_and_department.json": ["WLD021"],
    "other_variable.wld": ["WLD004"],
    "reserved_name.json": ["WLD013"],
    "space_in_name.json": ["WLD011"],
    "two_statements.wld": ["WLD004"],
    "type_clash.json": ["WLD014"],
    "type_twice_in_rule.json": ["WLD022"],
    "unknown_key.json": ["WLD005"],
    "unknown_type.toml": ["WLD020"],
    "wrong_kind.json": ["WLD005"],
}


def test_every_refused_file_has_its_expected_code() -> None:
    assert sorted(p.name for p in REFUSED.iterdir()) == sorted(REFUSED_CODES)


@pytest.mark.parametrize("name", sorted(REFUSED_CODES))
def test_refused_workload(name: str) -> None:
    path = str(REFUSED / name)
    with pytest.raises(PolicyError) as caught:
        generate_policy(read_workload(path), "p", DATE, path)
    found = caught.value.diagnostics
    assert found.codes() == REFUSED_CODES[name]
    assert all(d.location.file == path for d in found)


def test_a_wld_is_never_run(tmp_path: Path) -> None:
    witness = tmp_path / "was-run"
    wld = tmp_path / "evil.wld"
    wld.write_text(
        f"ezpolicy = open({str(witness)!r}, 'w').write('x') or {{'orgs': [], 'cons': []}}"
    )
    with pytest.raises(PolicyError) as caught:
        read_workload(str(wld))
    assert caught.value.diagnostics.codes() == ["WLD004"]
    assert not witness.exists()


def test_a_workload_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'{"organizations": []}' + b" " * MAX_WORKLOAD_BYTES)
    with pytest.raises(PolicyError) as caught:
        read_workload(str(big))
    assert caught.value.diagnostics.codes() == ["WLD002"]


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (WorkloadFormat.JSON, "[" * 100_000),
        (WorkloadFormat.TOML, "x = " + "[" * 100_000),
        (WorkloadFormat.WLD, "ezpolicy = " + "[" * 100_000),
        (WorkloadFormat.WLD, "ezpolicy = " + "[" * 50 + "]" * 50),
    ],
)
def test_deep_nesting_is_refused_cleanly(fmt: WorkloadFormat, text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_workload(text.encode(), fmt, "deep")
    assert caught.value.diagnostics.codes() == ["WLD003"]


def test_findings_are_collected_all_at_once() -> None:
    workload = Workload(
        (Organization("A", ("x", "x")), Organization("A"), Organization("B c")),
        (Rule("r", ("A", "A.x", "Z")),),
    )
    codes = check_workload(workload).codes()
    assert sorted(set(codes)) == ["WLD011", "WLD012", "WLD020", "WLD021"]


def test_a_bad_policy_name_is_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        generate_policy(Workload(), "a..b", DATE)
    assert caught.value.diagnostics.codes() == ["ACM005"]


def test_names_are_escaped_in_the_xml() -> None:
    workload = Workload(
        (Organization("A&B", ("<x>",)), Organization('C"D')), (Rule('r"<&', ("A&B", 'C"D')),)
    )
    result = generate_policy(workload, "p", "<now>")
    src = parse_policy_source(result.xml, "p.xml")
    assert src.chwall is not None
    assert [t.text for t in src.chwall.types] == ["SystemManagement", "A&B", "A&B.<x>", 'C"D']
    assert src.chwall.conflict_sets[0].name == 'r"<&'


def test_python2_utf8_byte_strings_of_a_later_ezpolicy_are_read_back() -> None:
    text = "ezpolicy = {'orgs': [['Z\\xc3\\xbcrich', []], ['Bern', []]], 'cons': []}"
    workload = parse_workload(text.encode(), WorkloadFormat.WLD)
    assert [o.name for o in workload.organizations] == ["Zürich", "Bern"]


@pytest.mark.parametrize(
    ("path", "data", "fmt"),
    [
        ("w.json", b"", WorkloadFormat.JSON),
        ("w.TOML", b"", WorkloadFormat.TOML),
        ("w.wld", b"", WorkloadFormat.WLD),
        ("w", b' {"organizations": []}', WorkloadFormat.JSON),
        ("w", b"ezpolicy = {}", WorkloadFormat.WLD),
        ("w", b"[[organizations]]", WorkloadFormat.TOML),
    ],
)
def test_format_by_suffix_then_content(path: str, data: bytes, fmt: WorkloadFormat) -> None:
    assert format_of(path, data) is fmt


@pytest.mark.parametrize(
    ("output", "name"),
    [
        ("/x/y/banks-security_policy.xml", "banks"),
        ("banks.xml", "banks"),
        ("banks", "banks"),
        ("-security_policy.xml", "-security_policy"),
    ],
)
def test_default_policy_name(output: str, name: str) -> None:
    assert default_policy_name(output) == name


# ---------------------------------------------------------------- edits

BANKS = Workload(
    (
        Organization("A-Bank", ("Sec", "Market")),
        Organization("B-Bank", ("Sec",)),
        Organization("Car"),
    ),
    (Rule("banks", ("A-Bank", "B-Bank")), Rule("sec", ("A-Bank.Sec", "B-Bank.Sec", "Car"))),
)


def test_renaming_an_organization_is_carried_into_every_rule() -> None:
    renamed = rename_organization(BANKS, "A-Bank", "C-Bank")
    assert renamed.organizations[0] == Organization("C-Bank", ("Sec", "Market"))
    assert renamed.rules == (
        Rule("banks", ("C-Bank", "B-Bank")),
        Rule("sec", ("C-Bank.Sec", "B-Bank.Sec", "Car")),
    )


def test_renaming_a_department_is_carried_into_every_rule() -> None:
    renamed = rename_department(BANKS, "B-Bank", "Sec", "Securities")
    assert renamed.rules[1] == Rule("sec", ("A-Bank.Sec", "B-Bank.Securities", "Car"))
    assert renamed.rules[0] == BANKS.rules[0]


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda w: rename_organization(w, "A-Bank", "B-Bank"), "WLD012"),
        (lambda w: rename_organization(w, "A-Bank", ""), "WLD010"),
        (lambda w: rename_organization(w, "Nope", "X"), "WLD030"),
        (lambda w: rename_department(w, "A-Bank", "Sec", "Market"), "WLD012"),
        (lambda w: add_organization(w, "Car"), "WLD012"),
        (lambda w: add_department(w, "Car", "a b"), "WLD011"),
        (lambda w: add_rule(w, "r", []), "WLD030"),
        (lambda w: add_rule(w, "r", ["A-Bank", "A-Bank.Sec"]), "WLD021"),
        (lambda w: add_rule(w, "r", ["Nope"]), "WLD020"),
        (lambda w: add_to_rule(w, 0, ["B-Bank.Sec"]), "WLD021"),
        (lambda w: add_to_rule(w, 1, ["A-Bank"]), "WLD021"),
        (lambda w: delete_rule(w, 5), "WLD030"),
        # a dot would make the organization read as a department
        (lambda w: add_organization(w, "A.Bank"), "WLD011"),
        (lambda w: rename_organization(w, "Car", "Car.Co"), "WLD011"),
        # a second rule of the same types, in any order
        (lambda w: add_rule(w, "again", ["B-Bank", "A-Bank"]), "WLD012"),
    ],
)
def test_edits_ezpolicy_refused(edit: object, code: str) -> None:
    with pytest.raises(PolicyError) as caught:
        edit(BANKS)  # type: ignore[operator]
    assert caught.value.diagnostics.codes() == [code]


def test_deleting_takes_the_types_out_of_every_rule() -> None:
    without_b = delete_organization(BANKS, "B-Bank")
    assert [o.name for o in without_b.organizations] == ["A-Bank", "Car"]
    # ezPolicy dropped only rules left empty; one with a single type stays (and is skipped).
    assert without_b.rules == (Rule("banks", ("A-Bank",)), Rule("sec", ("A-Bank.Sec", "Car")))
    without_dept = delete_department(BANKS, "A-Bank", "Sec")
    assert without_dept.organizations[0].departments == ("Market",)
    assert without_dept.rules[1] == Rule("sec", ("B-Bank.Sec", "Car"))
    assert delete_organization(delete_organization(BANKS, "A-Bank"), "B-Bank").rules == (
        Rule("sec", ("Car",)),
    )


def test_rule_edits() -> None:
    grown = add_rule(BANKS, "", ["A-Bank.Market", "Car", "Car"])
    assert grown.rules[-1] == Rule("", ("A-Bank.Market", "Car"))
    added = add_to_rule(BANKS, 0, ["B-Bank", "Car"])  # B-Bank is there already: ignored
    assert added.rules[0] == Rule("banks", ("A-Bank", "B-Bank", "Car"))
    assert remove_from_rule(BANKS, 1, ["Car", "B-Bank.Sec"]).rules[1] == Rule(
        "sec", ("A-Bank.Sec",)
    )
    assert rename_rule(BANKS, 0, "walls").rules[0].name == "walls"
    assert delete_rule(BANKS, 0).rules == BANKS.rules[1:]
    grown_orgs = add_department(add_organization(BANKS, "D"), "D", "x")
    assert grown_orgs.organizations[-1] == Organization("D", ("x",))


# ---------------------------------------------------------------- properties

names = st.text(alphabet="abcXYZ019_-+é€&<\"'", min_size=1, max_size=12)


def _writable(text: str) -> bool:
    return free_text_problem(text) is None


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    """Valid workloads: unique sibling names without dots (no type clashes);
    rules of known types, never an organization with its own department."""
    org_names = draw(st.lists(names, max_size=6, unique=True))
    orgs = tuple(
        Organization(n, tuple(draw(st.lists(names, max_size=4, unique=True)))) for n in org_names
    )
    workload = Workload(orgs)
    types = workload.types()
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        chosen = draw(st.lists(st.sampled_from(types), max_size=5, unique=True)) if types else []
        # Keep an organization or its departments, not both.
        picked = [t for t in chosen if not any(t.startswith(o + ".") for o in chosen)]
        rule_name = draw(st.one_of(st.just(""), st.text(max_size=10).filter(_writable)))
        rules.append(Rule(rule_name, tuple(picked)))
    return workload._replace(rules=tuple(rules))


@settings(max_examples=examples(60))
@given(workloads())
def test_any_valid_workload_gives_a_policy_that_compiles_and_lints_clean(w: Workload) -> None:
    assert not check_workload(w).has_errors
    xml = policy_xml(w, "gen", DATE).encode()  # unverified: the test checks it itself
    assert _serious(xml) == []
    compiled = _compiled(xml, "gen.xml")
    types = ["SystemManagement", *w.types()]
    assert compiled.map.chwall is not None and compiled.map.ste is not None
    assert list(compiled.map.chwall.types) == list(compiled.map.ste.types) == types
    assert compiled.map.primary is PolicyCode.CHWALL
    assert compiled.binary.chwall is not None
    assert len(compiled.binary.chwall.conflict_sets) == sum(len(r.types) >= 2 for r in w.rules)


@settings(max_examples=examples(60))
@given(workloads())
def test_json_and_toml_descriptions_read_back_the_same_workload(w: Workload) -> None:
    assert parse_workload(to_json(w).encode(), WorkloadFormat.JSON) == w
    assert parse_workload(to_toml(w).encode(), WorkloadFormat.TOML) == w
    assert tomllib.loads(to_toml(w))["version"] == json.loads(to_json(w))["version"] == 1


@settings(max_examples=examples(40))
@given(workloads(), st.data())
def test_edits_keep_a_valid_workload_valid(w: Workload, data: st.DataObject) -> None:
    if not w.organizations:
        return
    org = data.draw(st.sampled_from(w.organizations))
    new = data.draw(names.filter(lambda n: n not in {o.name for o in w.organizations}))
    renamed = rename_organization(w, org.name, new)
    assert not check_workload(renamed).has_errors
    assert rename_organization(renamed, new, org.name) == w
    assert not check_workload(delete_organization(w, org.name)).has_errors


def test_the_examples_in_the_docs_are_valid_workloads() -> None:
    text = (DATA.parent.parent / "docs" / "generate.md").read_text()
    blocks = {
        fmt: [b.split("```")[0] for b in text.split("```" + fmt.value + "\n")[1:]]
        for fmt in (WorkloadFormat.JSON, WorkloadFormat.TOML)
    }
    for fmt, found in blocks.items():
        assert found, f"no {fmt.value} example in docs/generate.md"
        for block in found:
            workload = parse_workload(block.encode(), fmt, "docs")
            assert not check_workload(workload).has_errors
