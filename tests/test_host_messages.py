"""Messages that name the real mistake, and the exit status of each (issue
20): 0 success, 1 an operation failed or was denied, 2 a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hosttools import loaded_host, xm_run
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths

STRICT = Path(__file__).resolve().parent / "data" / "strict"
P = EXAMPLE_POLICY


@pytest.fixture
def root(tmp_path: Path) -> Path:
    paths = loaded_host(tmp_path / "root")
    for cfg in STRICT.glob("*.cfg"):
        (paths.etc_xen / cfg.stem).write_bytes(cfg.read_bytes())
    return paths.root


def test_a_name_of_digits_reads_as_an_id(root: Path) -> None:
    run = xm_run(root, "create", "/dev/null", "name=12")
    assert (run.code, run.err) == (
        2,
        "Error: /dev/null: Invalid VM name '12': a name of digits only reads as an id\n",
    )
    run = xm_run(root, "create", "/dev/null", "name=-x")
    assert run.code == 2 and "a name cannot start with '-'" in run.err
    assert xm_run(root, "create", "boinc").code == 0
    run = xm_run(root, "rename", "boinc", "5")
    assert (run.code, run.err) == (
        2,
        "Error: Invalid VM name '5': a name of digits only reads as an id\n",
    )


def test_a_mistyped_option_is_an_unknown_option(root: Path) -> None:
    run = xm_run(root, "list", "--lable")
    assert (run.code, run.err) == (2, "Error: No such option '--lable'. Did you mean '--label'?\n")
    run = xm_run(root, "mem-set", "Domain-0", "--sise")
    assert run.code == 2 and run.err.startswith("Error: No such option '--sise'.")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [(["lsit"], "list"), (["creat", "x"], "create"), (["acm", "lnt"], "lint")],
)
def test_did_you_mean_a_subcommand(tmp_path: Path, typed: list[str], meant: str) -> None:
    run = xm_run(tmp_path, *typed)
    assert run.code == 2
    assert run.err == f"Error: No such command '{typed[-1 if typed[0] == 'acm' else 0]}'. " + (
        f"Did you mean '{meant}'?\n"
    )


def test_create_of_a_folder_says_it_is_one(root: Path, tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    run = xm_run(root, "create", str(tmp_path / "configs"))
    assert run.code == 1
    assert (
        run.err
        == f"Error: Config file '{tmp_path / 'configs'}' is a folder: give a domain config file.\n"
    )


def test_loadpolicy_of_a_policy_that_does_not_exist(root: Path) -> None:
    run = xm_run(root, "loadpolicy", "nosuch.pol")
    assert run.code == 1
    assert "Policy 'nosuch.pol' not found: there is neither" in run.err
    assert "makepolicy" not in run.err
    paths = HostPaths(root)
    xml = Path(paths.policy_files("mine.pol").xml)  # a policy written, not compiled
    xml.parent.mkdir(parents=True)
    xml.write_bytes(Path(paths.policy_files(P).xml).read_bytes())
    run = xm_run(root, "loadpolicy", "mine.pol")
    assert "Run 'xm makepolicy mine.pol' first." in run.err


def test_addlabel_of_the_wrong_kind(root: Path) -> None:
    run = xm_run(root, "addlabel", "dom_HomeBanking", "res", "phy:hda6")
    assert run.code == 1
    assert run.err == (
        "Error: \"Label 'dom_HomeBanking' is a domain label (dom) of policy "
        f"'{P}', but a resource label (res) is needed here.\"\n"
    )
    run = xm_run(root, "addlabel", "res_HardDrive(hda)", "dom", "bank")
    assert "is a resource label (res)" in run.err and "domain label (dom) is needed" in run.err


def test_labels_with_a_bare_type(root: Path) -> None:
    run = xm_run(root, "labels", P, "dom")
    assert run.code == 2
    assert run.err == (
        "Error: 'policy is defined twice: to list the labels of one type, give type=dom'\n"
    )


def test_makepolicy_of_a_file_name(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "makepolicy", "example/chwall_ste/client_v1-security_policy.xml")
    assert run.code == 2
    assert "type 'example.chwall_ste.client_v1'" in run.err
    run = xm_run(tmp_path, "makepolicy", "example-chwall_ste-client_v1-security_policy.xml")
    assert run.code == 2 and "that is a file name" in run.err
    assert "-security_policy/xml" not in run.err
    assert xm_run(tmp_path, "makepolicy", "bad name").code == 2


def test_the_fix_leads(root: Path) -> None:
    """fun's disks are refused before the hypervisor's Chinese Wall is asked,
    as xm checked resources first: the first line is the first fix."""
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "create", "fun_two_disks")
    assert run.code == 1
    lines = run.err.splitlines()
    assert "phy:/dev/hdb1" in lines[0] or "hdb1" in lines[0]
    assert any("hdb2" in line for line in lines[1:])
    assert any("Chinese Wall" in line for line in lines[1:])


@pytest.mark.parametrize(
    "args",
    [
        ["reboot"],
        ["reboot", "-a", "bank"],
        ["shutdown"],
        ["network-attach", "bank", "foo=bar"],
        ["network-attach", "bank", "foo"],
    ],
)
def test_usage_errors_exit_2(root: Path, args: list[str]) -> None:
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, *args)
    assert run.code == 2, run.err
    assert run.err.startswith("Error: ") and run.err.count("\n") == 1


def test_a_read_only_command_never_creates_a_root(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "deep" / "x"
    for args in (
        ["info"],
        ["list"],
        ["labels", P],
        ["acm", "audit"],
        ["dry-run", "/dev/null"],
        ["create", "-n", "/dev/null", "name=x"],
    ):
        run = xm_run(missing, *args)
        assert run.code == 1, args
        assert "does not exist: a command that only reads the host does not create one" in run.err
    assert not (tmp_path / "nonexistent").exists()
    run = xm_run(missing, "makepolicy", P)  # a command that writes says so
    assert (run.code, run.err) == (
        0,
        f"Created host root '{missing}', installed like a Xen host.\n",
    )
    assert xm_run(missing, "info").code == 0


def test_an_empty_root_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from xm_core.cli.commands import xm

    monkeypatch.setenv("XM_ROOT", str(tmp_path / "other"))
    result = CliRunner().invoke(xm, ["--root", "", "info"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --root: the path is empty; give the host root folder\n"
    assert not (tmp_path / "other").exists()


def test_lint_takes_a_dotted_policy_name_and_json(root: Path) -> None:
    import json

    run = xm_run(root, "acm", "lint", P)
    assert run.code == 0, run.err
    xml = HostPaths(root).policy_files(P).xml
    # one finding format, the compiler's: `file:line:col: severity CODE: message`
    assert run.lines and all(line.startswith(f"{xml}:") for line in run.lines)
    assert all(": warning ACM0" in line or ": info ACM0" in line for line in run.lines)
    assert all(line.split(" ", 3)[2].endswith(":") for line in run.lines)
    # plurals
    assert run.err == "acm-lint: 4 findings (0 errors, 2 warnings, 2 info) in 1 file\n"
    doc = json.loads(xm_run(root, "acm", "lint", "--json", P).out)
    assert doc["files"] == [xml] and doc["summary"]["warning"] == 2
    both = xm_run(root, "acm", "lint", "--json", "--format", "sarif", P)
    assert both.code == 2 and "two formats" in both.err


def test_list_prints_in_id_order(root: Path) -> None:
    assert xm_run(root, "create", "boinc").code == 0
    assert xm_run(root, "create", "bank").code == 0
    run = xm_run(root, "list", "bank", "1", "Domain-0", "boinc")
    assert [line.split()[0] for line in run.lines[1:]] == ["Domain-0", "boinc", "bank"]
