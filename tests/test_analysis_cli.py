"""The commands as a user types them: xm acm graph|flows|coexist|diff|decompile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from acm.binfmt import binary_bytes
from acm.errors import PolicyError
from tests.conftest import EXAMPLE_XML, REPO
from tests.test_analysis_support import compile_xml, data_policy

GOLDEN = REPO / "tests" / "golden"
EXAMPLE = "example.chwall_ste.client_v1"
COMMANDS = ["graph", "flows", "coexist", "diff", "decompile"]


def xm(*args: str) -> Result:
    from xm_core.cli.commands import xm as group

    return CliRunner().invoke(group, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str) -> None:
    res = xm("acm", command, "--help")
    assert res.exit_code == 0
    assert "--json" in res.output
    assert command in xm("acm", "--help").output


def test_graph_by_policy_name(host_root: Path) -> None:
    res = xm("acm", "graph", EXAMPLE)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith('digraph "example.chwall_ste.client_v1 conflicts" {')
    assert '"dom:dom_HomeBanking" -> "dom:dom_Fun"' in res.stdout
    doc = json.loads(xm("acm", "graph", EXAMPLE, "--json").stdout)
    assert doc["graph"]["level"] == "labels" and len(doc["edges"]) == 2
    assert json.loads(xm("acm", "graph", EXAMPLE, "--format", "json").stdout) == doc
    groups = json.loads(xm("acm", "graph", EXAMPLE, "--json", "--level", "groups").stdout)
    assert {n["id"] for n in groups["nodes"]} >= {"cw:cw_Sensitive", "cw:cw_SystemManagement"}


def test_graph_flows_to_file(tmp_path: Path) -> None:
    out = tmp_path / "flows.dot"
    res = xm("acm", "graph", str(EXAMPLE_XML), "--kind", "flows", "-o", str(out))
    assert res.exit_code == 0 and res.stdout == ""
    text = out.read_text()
    assert (
        text.startswith("graph ") and '"res:res_SecurityToken" [label="res_SecurityToken"' in text
    )
    res = xm("acm", "graph", str(EXAMPLE_XML), "--kind", "flows", "--level", "groups")
    assert res.exit_code == 1 and "no level 'groups'" in res.stderr


def test_svg_without_graphviz_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "g.svg"
    res = xm("acm", "graph", str(EXAMPLE_XML), "--format", "svg", "-o", str(out))
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: ") and "Graphviz's 'dot'" in res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_with_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "g.svg"
    res = xm("acm", "graph", str(EXAMPLE_XML), "--format", "svg", "-o", str(out))
    assert res.exit_code == 0, res.stderr
    svg = out.read_text()
    assert "<svg" in svg and "dom_HomeBanking" in svg


def test_flows(host_root: Path) -> None:
    res = xm("acm", "flows", EXAMPLE, "dom_HomeBanking", "dom_Fun", "--max-hops", "2")
    assert res.exit_code == 0
    assert res.stdout.count("(2 hops)") == 3 and "dom_StorageDomain" in res.stdout
    doc = json.loads(
        xm("acm", "flows", EXAMPLE, "dom_HomeBanking", "res_HardDrive(hda)", "--json").stdout
    )
    assert doc["shortest_hops"] == 2 and doc["to_kind"] == "res"
    assert doc["paths"][0]["steps"][0]["types"] == ["ste_PersonalFinances"]
    res = xm("acm", "flows", EXAMPLE, "dom_Nobody", "dom_Fun")
    assert (res.exit_code, res.stderr) == (1, "Error: \"Label 'dom_Nobody' not found.\"\n")
    assert xm("acm", "flows", EXAMPLE, "a", "b", "--max-hops", "0").exit_code == 2


def test_coexist(host_root: Path) -> None:
    res = xm("acm", "coexist", EXAMPLE)
    assert (
        res.exit_code == 0
        and "Maximal sets of labels that can run at the same time: 2" in res.stdout
    )
    yes = xm("acm", "coexist", EXAMPLE, "dom_Fun", "dom_BoincClient")
    assert yes.exit_code == 0 and yes.stdout.startswith("Yes:")
    no = xm("acm", "coexist", EXAMPLE, "dom_Fun", "dom_HomeBanking", "--json")
    assert no.exit_code == 1
    assert json.loads(no.stdout)["can_run_together"] is False
    doc = json.loads(xm("acm", "coexist", str(data_policy("never_start")), "--json").stdout)
    assert {n["label"] for n in doc["never_start"]} == {"no_cw", "twice", "rival"}


def test_diff(host_root: Path, tmp_path: Path) -> None:
    v2 = str(data_policy("example_v2"))
    res = xm("acm", "diff", EXAMPLE, v2)
    assert res.exit_code == 0 and "  - dom dom_Fun" in res.stdout
    assert xm("acm", "diff", EXAMPLE, v2, "--exit-code").exit_code == 1
    same = xm(
        "acm", "diff", EXAMPLE, str(GOLDEN / "example.chwall_ste.client_v1.bin"), "--exit-code"
    )
    assert same.exit_code == 0 and same.stdout.endswith("No differences.\n")
    doc = json.loads(xm("acm", "diff", EXAMPLE, v2, "--json").stdout)
    assert doc["identical"] is False and doc["conflict_sets"][0]["status"] == "changed"
    lonely = tmp_path / "lonely.bin"
    shutil.copy(GOLDEN / "ste_only.bin", lonely)
    res = xm("acm", "diff", EXAMPLE, str(lonely))
    assert res.exit_code == 1 and "lonely.map not found" in res.stderr


def test_decompile(tmp_path: Path) -> None:
    bin_path = str(GOLDEN / "chwall_only.bin")
    res = xm("acm", "decompile", bin_path, "--map", str(GOLDEN / "chwall_only.map"))
    assert res.exit_code == 0 and res.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    again = compile_xml(res.stdout.encode("utf-8"))
    assert binary_bytes(again.binary) == (GOLDEN / "chwall_only.bin").read_bytes()
    out = tmp_path / "back-security_policy.xml"
    res = xm("acm", "decompile", bin_path, "-o", str(out), "--json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["output"] == str(out) and doc["names_from_map"] is False
    assert (
        binary_bytes(compile_xml(out.read_bytes()).binary)
        == (GOLDEN / "chwall_only.bin").read_bytes()
    )
    res = xm("acm", "decompile", bin_path, "-o", str(tmp_path / "x.xml"))
    assert "written to" in res.stderr and res.stdout == ""


def test_decompile_bad_input_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\0" * 16)
    out = tmp_path / "out.xml"
    res = xm("acm", "decompile", str(bad), "-o", str(out))
    assert res.exit_code == 1 and "invalid binary policy" in res.stderr
    assert "Traceback" not in res.stderr and not out.exists()
    res = xm(
        "acm", "decompile", str(GOLDEN / "ste_only.bin"), "--map", str(GOLDEN / "chwall_only.map")
    )
    assert res.exit_code == 1 and "does not belong" in res.stderr


def test_policy_name_of_a_compiled_policy_without_its_xml(host_root: Path) -> None:
    from xm_core.files.paths import HostPaths

    files = HostPaths(host_root).policy_files("golden.ste_only")
    Path(files.bin).parent.mkdir(parents=True)
    shutil.copy(GOLDEN / "ste_only.bin", files.bin)
    shutil.copy(GOLDEN / "ste_only.map", files.map)
    res = xm("acm", "coexist", "golden.ste_only", "web", "db")
    assert res.exit_code == 0 and res.stdout.startswith("Yes:")


def test_bad_policy_arguments(host_root: Path, tmp_path: Path) -> None:
    res = xm("acm", "graph", "bad..name")
    assert res.exit_code == 2 and "Invalid policy name" in res.stderr
    res = xm("acm", "coexist", "no.such.policy")
    assert res.exit_code == 1 and "cannot read policy file" in res.stderr
    broken = tmp_path / "broken.xml"
    broken.write_text("<SecurityPolicyDefinition xmlns='http://www.ibm.com'/>")
    res = xm("acm", "graph", str(broken))
    assert res.exit_code == 1 and "error ACM002" in res.stderr


@pytest.mark.parametrize(
    "policy",
    [EXAMPLE_XML, REPO / "tests" / "data" / "compiler" / "acm023_type_twice_in_label.xml"],
    ids=["fast-path", "with-a-warning"],
)
def test_a_policy_too_large_to_load_is_analysed(
    policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """makepolicy refuses a `.bin` over its readers' limit (ACM017); the
    analyses write no `.bin` and answer as for any other policy. The limit is
    lowered here so that a small policy is over it."""
    import acm.compiler
    import acm.inputfile

    wanted = [xm("acm", command, str(policy), "--json").stdout for command in ("coexist", "graph")]
    monkeypatch.setattr(acm.compiler, "MAX_BINARY_SIZE", 64)
    monkeypatch.setattr(acm.inputfile, "MAX_COMPILED_BYTES", 64)
    with pytest.raises(PolicyError) as refused:
        acm.compiler.compile_file(str(policy))
    assert [d.code for d in refused.value.diagnostics.errors] == ["ACM017"]
    got = [xm("acm", command, str(policy), "--json").stdout for command in ("coexist", "graph")]
    assert got == wanted and '"maximal_sets"' in got[0]
