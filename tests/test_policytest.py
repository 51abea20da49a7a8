"""`xm acm test`: policy unit tests in TOML, run on scratch hosts, as typed."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.hosttools import check_schema, compile_example, xm_run
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths

ACMTEST = Path(__file__).resolve().parent / "data" / "acmtest"
SUITES = sorted(ACMTEST.glob("*.toml"))
JUNIT_XSD = ACMTEST / "junit.xsd"


def child(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path)
    assert found is not None, path
    return found


def steps_in(files: list[Path]) -> int:
    return sum(len(tomllib.loads(f.read_text())["step"]) for f in files)


@pytest.fixture
def user_root(host_root: Path) -> Path:
    """The user's host: the example policy's XML, nothing compiled or loaded."""
    return host_root


def test_help(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "acm", "test", "--help")
    assert run.code == 0
    assert run.out.startswith("Usage: xm acm test [OPTIONS] FILE.toml...")
    assert "--junit" in run.out


def test_needs_a_file(tmp_path: Path) -> None:
    assert xm_run(tmp_path, "acm", "test").code == 2


def test_example_suites_pass(user_root: Path) -> None:
    """The policy tests shipped under tests/data/acmtest: the example
    policy's scenarios (bank and fun conflict, boinc runs anywhere, bank
    with hda1 permitted and hda2 denied, an unlabeled disk denied, driver
    domains, policy updates) and a policy of their own."""
    run = xm_run(user_root, "acm", "test", *map(str, SUITES))
    assert run.code == 0, run.out
    assert run.lines[-1] == f"{steps_in(SUITES)} passed, 0 failed"
    assert "FAIL" not in run.out
    names = [line for line in run.lines if not line.startswith(" ")][:-1]
    assert [n.split(" (policy ")[0] for n in names] == [str(p) for p in SUITES]
    assert f"{ACMTEST / 'two_sets.toml'} (policy test.two_sets)" in run.lines


def test_user_host_is_left_alone(user_root: Path, tmp_path: Path) -> None:
    paths = HostPaths(user_root)
    before = sorted(p.relative_to(user_root) for p in user_root.rglob("*"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    old = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        assert xm_run(user_root, "acm", "test", str(ACMTEST / "chinese_wall.toml")).code == 0
    finally:
        tempfile.tempdir = old
    assert sorted(p.relative_to(user_root) for p in user_root.rglob("*")) == before
    assert not paths.state_db.exists()
    assert list(scratch.iterdir()) == []  # every scratch host removed


def test_failures_are_reported_and_exit_1(user_root: Path, tmp_path: Path) -> None:
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    files = sorted((ACMTEST / "failing").glob("*.toml"))
    run = xm_run(user_root, "acm", "test", *map(str, files), "--junit", str(junit))
    assert run.code == 1
    assert run.lines[-2:] == ["2 skipped", "1 passed, 5 failed"]
    out = run.out
    assert "  FAIL  step 1: create bank (dom_HomeBanking): permitted" in run.lines
    assert "        expected denied, got permitted" in run.lines
    assert "        expected permitted, got denied" in run.lines
    assert "        the message does not contain 'STE'" in run.lines
    assert "        the message does not match /^Domain 'somebody'/" in run.lines
    assert "        Domain 'nobody' does not exist." in run.lines
    assert "  PASS  step 5: this one passes: permitted" in run.lines
    # the policy that does not compile: the user's file is named, steps skipped
    assert "  FAIL  setup: compile and load the policy: denied" in run.lines
    assert f"{ACMTEST / 'failing' / 'broken-security_policy.xml'}:61:27: error ACM011" in out
    assert "  SKIP  step 1: create bank (dom_HomeBanking): not run" in run.lines

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    doc = etree.parse(str(junit))
    top = doc.getroot()
    assert (top.tag, top.get("tests"), top.get("failures"), top.get("skipped")) == (
        "testsuites",
        "8",
        "5",
        "2",
    )
    suites = {s.get("name"): s for s in top.iter("testsuite")}
    assert set(suites) == {"broken_policy", "wrong_expectations"}
    wrong = suites["wrong_expectations"]
    cases = wrong.findall("testcase")
    assert [c.get("classname") for c in cases] == ["wrong_expectations"] * 5
    assert [c.find("failure") is not None for c in cases] == [True, True, True, True, False]
    assert child(cases[0], "failure").get("message") == "expected denied, got permitted"
    assert "CHINESE WALL CONFLICT" in str(child(cases[1], "system-out").text)
    broken = suites["broken_policy"]
    assert [c.find("skipped") is not None for c in broken.findall("testcase")] == [
        False,
        True,
        True,
    ]
    assert child(broken, "properties/property").get("value") == "broken-security_policy.xml"


def test_junit_of_a_passing_run_is_valid(user_root: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    run = xm_run(user_root, "acm", "test", *map(str, SUITES), "--junit", str(junit))
    assert run.code == 0
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    top = etree.parse(str(junit)).getroot()
    assert top.get("tests") == str(steps_in(SUITES))
    assert top.get("failures") == "0"
    assert not list(top.iter("failure"))
    props = {s.get("name"): child(s, "properties/property").get("value") for s in top}
    assert props["chinese_wall"] == EXAMPLE_POLICY
    assert props["two_sets"] == "test.two_sets"


def test_json(user_root: Path) -> None:
    files = [ACMTEST / "resources.toml", ACMTEST / "failing" / "wrong_expectations.toml"]
    run = xm_run(user_root, "acm", "test", *map(str, files), "--json")
    assert run.code == 1
    doc = json.loads(run.out)
    check_schema(doc, "test")
    assert (doc["passed"], doc["failed"], doc["skipped"]) == (8, 4, 0)
    first, second = doc["files"]
    assert first["policy"] == EXAMPLE_POLICY
    assert first["name"] == "resources"
    hda2 = first["cases"][2]
    assert hda2["name"] == "step 3: bank with the entertainment partition hda2"
    assert (hda2["expect"], hda2["outcome"], hda2["passed"]) == ("denied", "denied", True)
    assert "is not allowed" in hda2["message"]
    assert second["cases"][0]["failure"].startswith("expected denied, got permitted")


MALFORMED = {
    "bad_syntax.toml": ["bad_syntax.toml: invalid TOML: ", "(at line 4, column 15)"],
    "unknown_step_key.toml": ["unknown_step_key.toml: step 2: unknown key 'lable' for a create"],
    "missing_policy.toml": ["missing_policy.toml: policy file '", "no-such-security_policy.xml"],
    "step_table.toml": ["step_table.toml: 'step' must be an array of tables ([[step]])"],
    "bad_values.toml": [
        "bad_values.toml: unknown key 'color'",
        "bad_values.toml: step 1: 'expect' must be 'permitted' or 'denied', not 'allowed'",
        "bad_values.toml: step 2: one operation per step, found create, destroy",
        "bad_values.toml: step 3: no operation: expected one of create, destroy",
        "bad_values.toml: step 4: 'share' must be a list of two domain names",
        "bad_values.toml: step 4: 'expect' is missing",
        "bad_values.toml: step 4: 'reason_regex' is not a regular expression",
        "bad_values.toml: step 5: 'label' must be a label without quotes, commas",
    ],
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_is_a_usage_error(user_root: Path, tmp_path: Path, name: str) -> None:
    junit = tmp_path / "junit.xml"
    good = ACMTEST / "chinese_wall.toml"
    run = xm_run(
        user_root,
        "acm",
        "test",
        str(good),
        str(ACMTEST / "malformed" / name),
        "--junit",
        str(junit),
    )
    assert run.code == 2
    assert run.out == ""  # nothing ran
    assert not junit.exists()
    assert run.err.startswith("Error: ")
    for text in MALFORMED[name]:
        assert text in run.err
    assert "Traceback" not in run.err


def test_unreadable_and_unknown_names(user_root: Path, tmp_path: Path) -> None:
    missing = xm_run(user_root, "acm", "test", str(tmp_path / "nope.toml"))
    assert missing.code == 2
    assert "nope.toml: cannot read the test file" in missing.err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('policy = "no.such.policy"\n[[step]]\ndestroy = "x"\nexpect = "denied"\n')
    run = xm_run(user_root, "acm", "test", str(unknown))
    assert run.code == 2
    assert "policy 'no.such.policy' not found under" in run.err
    bad_name = tmp_path / "bad_name.toml"
    bad_name.write_text('policy = "a..b"\n[[step]]\ndestroy = "x"\nexpect = "denied"\n')
    assert "Invalid policy name" in xm_run(user_root, "acm", "test", str(bad_name)).err
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'policy = "\xff"\n')
    assert "binary.toml: not UTF-8 text" in xm_run(user_root, "acm", "test", str(binary)).err


def test_compiled_policy_without_xml(user_root: Path, tmp_path: Path) -> None:
    """A dotted name whose XML is gone but whose .bin and .map are there."""
    paths = compile_example(user_root)
    os.remove(paths.policy_files(EXAMPLE_POLICY).xml)
    run = xm_run(user_root, "acm", "test", str(ACMTEST / "resources.toml"))
    assert run.code == 0, run.out
    assert run.lines[-1] == "7 passed, 0 failed"


def test_resources_table_and_paths_relative_to_the_file(user_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    shutil.copyfile(ACMTEST / "two_sets-security_policy.xml", folder / "p.xml")
    test = folder / "t.toml"
    test.write_text(
        'policy = "p.xml"\n'
        "[resources]\n"
        '"phy:sdz1" = "res_Work"\n'
        '"phy:sdz2" = ["other.policy", "res_Work"]\n'
        '[[step]]\ncreate = "a"\nlabel = "dom_A"\n'
        'disk = ["phy:sdz1,xvda,w"]\nexpect = "permitted"\n'
        '[[step]]\nattach = "a"\nresource = "phy:sdz2"\nexpect = "denied"\n'
        'reason = "is not labeled"\n'
        '[[step]]\nname = "labeling it for the test\'s policy fixes it"\n'
        'attach = "a"\nresource = "phy:sdz2"\nresource_label = "res_Work"\nexpect = "permitted"\n'
    )
    run = xm_run(user_root, "acm", "test", str(test))
    assert run.code == 0, run.out
    assert "  PASS  step 3: labeling it for the test's policy fixes it: permitted" in run.lines


# ------------------------------------------------------------------ the runner, as a property

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["create", "destroy"]),
        st.sampled_from(["bank", "fun", "boinc", "fun2"]),
    ),
    min_size=1,
    max_size=8,
)
LABELS = {
    "bank": "dom_HomeBanking",
    "fun": "dom_Fun",
    "fun2": "dom_Fun",
    "boinc": "dom_BoincClient",
}


def _toml(ops: list[tuple[str, str]], expects: list[str]) -> str:
    lines = [f'policy = "{EXAMPLE_POLICY}"']
    for (op, dom), expect in zip(ops, expects, strict=True):
        lines += ["[[step]]", f'{op} = "{dom}"', f'expect = "{expect}"']
        if op == "create":
            lines.append(f'label = "{LABELS[dom]}"')
    return "\n".join(lines) + "\n"


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPERATIONS, flip=st.integers(min_value=0))
def test_recorded_outcomes_pass_and_one_flip_fails_exactly_one(
    user_root: Path, ops: list[tuple[str, str]], flip: int
) -> None:
    """Run a random scenario, write its outcomes as expectations: every step
    passes. Flip one expectation: exactly that step fails. (Outcomes are
    deterministic, and a failed step changes nothing that follows.)"""
    from xm_core.insight.policytest import run_tests

    paths = HostPaths(user_root)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.toml"
        probe.write_text(_toml(ops, ["permitted"] * len(ops)))
        outcomes = [c.outcome or "" for c in run_tests(paths, [str(probe)]).files[0].cases]
        recorded = Path(tmp) / "recorded.toml"
        recorded.write_text(_toml(ops, outcomes))
        run = run_tests(paths, [str(recorded)])
        assert (run.passed, run.failed) == (len(ops), 0)
        i = flip % len(ops)
        flipped = list(outcomes)
        flipped[i] = "denied" if outcomes[i] == "permitted" else "permitted"
        recorded.write_text(_toml(ops, flipped))
        run = run_tests(paths, [str(recorded)])
        assert [c.passed for c in run.files[0].cases] == [j != i for j in range(len(ops))]


def test_a_file_with_more_steps_than_the_limit_runs_none(user_root: Path, tmp_path: Path) -> None:
    """A file within the size limit could hold steps for many minutes: past
    MAX_STEPS it is refused before any step runs."""
    from xm_core.insight.policytest import MAX_STEPS

    many = tmp_path / "many.toml"
    step = '[[step]]\ndestroy = "x"\nexpect = "denied"\n'
    many.write_text(f'policy = "{EXAMPLE_POLICY}"\n' + step * (MAX_STEPS + 1))
    run = xm_run(user_root, "acm", "test", str(many))
    assert run.code == 2
    assert run.out == ""  # nothing ran
    assert f"{MAX_STEPS + 1} steps, more than the limit of {MAX_STEPS}" in run.err
