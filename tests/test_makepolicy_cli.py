"""`xm makepolicy` as a user types it (click's CliRunner, and subprocesses
for the real entry points), and `xm demo`."""

from __future__ import annotations

import builtins
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from acm.errors import PolicyError
from tests.conftest import DATA, EXAMPLE_XML, REPO
from xm_core.cli.commands import xm
from xm_core.files.paths import POLICIES_REL, HostPaths
from xm_core.host.policy import make_policy

EXAMPLE = "example.chwall_ste.client_v1"
EXAMPLE_REL = "example/chwall_ste/client_v1"
GOLDEN = Path(__file__).resolve().parent / "golden"
FINDING = re.compile(r"^(?P<file>[^:]+):(\d+):(\d+): (error|warning) (ACM\d{3}): \S.*$")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(xm, list(args), env=env, catch_exceptions=False)


def _policy_dir(root: Path) -> Path:
    return root / POLICIES_REL


def _install(root: Path, src: Path, name: str) -> Path:
    """Copy `src` into the host's policy tree as the dotted `name`."""
    target = _policy_dir(root) / (name.replace(".", "/") + "-security_policy.xml")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, target)
    return target


def _outputs(root: Path, name: str) -> tuple[Path, Path]:
    stem = _policy_dir(root) / name.replace(".", "/")
    return stem.with_suffix(".map"), stem.with_suffix(".bin")


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _map_paths(map_file: Path) -> tuple[str, str]:
    lines = map_file.read_text().splitlines()
    return lines[2].split(None, 2)[2], lines[3].split(None, 2)[2]


# ---------------------------------------------------------------- help


def test_xm_help_lists_makepolicy() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "makepolicy" in result.stdout
    assert "--root" in result.stdout


def test_makepolicy_help() -> None:
    result = run("makepolicy", "--help")
    assert result.exit_code == 0
    assert "Usage: xm makepolicy [OPTIONS] POLICY" in result.stdout
    assert "-d DIR" in result.stdout
    assert "file:line:col: error CODE: message" in result.stdout


# ---------------------------------------------------------------- success


def test_success_is_silent_and_writes_both_files(host_root: Path) -> None:
    result = run("makepolicy", EXAMPLE)
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    map_file, bin_file = _outputs(host_root, EXAMPLE)
    assert bin_file.read_bytes() == (GOLDEN / f"{EXAMPLE}.bin").read_bytes()
    policies = str(_policy_dir(host_root))
    assert _map_paths(map_file) == (
        f"{policies}/{EXAMPLE_REL}-security_policy.xml",
        f"{policies}/{EXAMPLE_REL}.bin",
    )


def test_warnings_go_to_stderr_and_the_policy_compiles(host_root: Path) -> None:
    path = _install(host_root, DATA / "compiler" / "acm023_type_twice_in_label.xml", "t.warn")
    result = run("makepolicy", "t.warn")
    assert result.exit_code == 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    m = FINDING.match(line)
    assert m and m.group("file") == str(path)
    assert " warning ACM023: " in line
    assert all(p.exists() for p in _outputs(host_root, "t.warn"))


# ---------------------------------------------------------------- failure


def test_failure_prints_every_finding_and_touches_nothing(host_root: Path) -> None:
    path = _install(host_root, DATA / "compiler" / "valid.xml", "t.broken")
    assert run("makepolicy", "t.broken").exit_code == 0  # old outputs to keep
    shutil.copy(DATA / "compiler" / "several_defects.xml", path)
    before = _snapshot(host_root)
    result = run("makepolicy", "t.broken")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 8
    for line in lines:
        m = FINDING.match(line)
        assert m, line
        assert m.group("file") == str(path)
    assert [line.split(": ")[1].split()[1] for line in lines] == [
        "ACM010",
        "ACM012",
        "ACM013",
        "ACM014",
        "ACM014",
        "ACM023",
        "ACM011",
        "ACM019",
    ]
    assert _snapshot(host_root) == before


@pytest.mark.parametrize(
    "name",
    ["..", "a..b", ".a", "a.", "a/b", "../../etc/passwd", "", "a b", "a\0b", "a\nb", "é"],
)
def test_invalid_policy_names_are_refused_before_anything(host_root: Path, name: str) -> None:
    before = _snapshot(host_root)
    result = run("makepolicy", name)
    assert result.exit_code == 2  # a usage error
    assert result.stdout == ""
    # Xen's form: `Error: ` and the repr of the message, on one line.
    assert re.fullmatch(r"Error: (['\"])Invalid policy name .*\1\n", result.stderr)
    assert _snapshot(host_root) == before


@pytest.mark.parametrize("name", ["..", "a..b", "a/b", "", "a b", "a\0b", "x.y/../z"])
def test_invalid_names_are_refused_before_any_file_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"opened {args[0]!r} for a bad policy name")

    paths = HostPaths(tmp_path)
    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(io, "open", no_open)
    monkeypatch.setattr(os, "open", no_open)
    with pytest.raises(PolicyError) as info:
        make_policy(paths, name)
    assert info.value.diagnostics.codes() == ["ACM005"]


def test_a_bad_name_does_not_even_create_the_per_user_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if Path("/etc/xen").exists():
        pytest.skip("/etc/xen exists here, so the default root is /")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = run("makepolicy", "../x")
    assert result.exit_code == 2
    assert "Invalid policy name" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("policy_dir", ["pol\nFAKE LINE", "pol\0x", "pol\r"])
def test_a_policy_dir_the_map_cannot_carry_is_refused(tmp_path: Path, policy_dir: str) -> None:
    result = run("--root", str(tmp_path), "makepolicy", "-d", policy_dir, EXAMPLE)
    assert result.exit_code == 2  # the command line's mistake
    assert re.fullmatch(r"Error: (['\"])Invalid policy directory .*\1\n", result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_policy_is_one_error_line(host_root: Path) -> None:
    result = run("makepolicy", "no.such.policy")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    missing = _policy_dir(host_root) / "no/such/policy-security_policy.xml"
    assert line.startswith(f"{missing}: error ACM003: cannot read policy file:")
    assert not (_policy_dir(host_root) / "no").exists()


# ---------------------------------------------------------------- -d


@pytest.mark.parametrize(
    ("given", "prefix"),
    [("pol", "pol/"), ("pol/", "pol/"), ("./pol", "./pol/"), ("pol//", "pol//")],
)
def test_d_paths_in_the_map_are_the_dir_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, prefix: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _install_at = tmp_path / "pol" / f"{EXAMPLE_REL}-security_policy.xml"
    _install_at.parent.mkdir(parents=True)
    shutil.copy(EXAMPLE_XML, _install_at)
    result = run("--root", str(tmp_path / "root"), "makepolicy", "-d", given, EXAMPLE)
    assert result.exit_code == 0, result.stderr
    map_file = tmp_path / "pol" / f"{EXAMPLE_REL}.map"
    assert _map_paths(map_file) == (
        f"{prefix}{EXAMPLE_REL}-security_policy.xml",
        f"{prefix}{EXAMPLE_REL}.bin",
    )
    assert (tmp_path / "pol" / f"{EXAMPLE_REL}.bin").read_bytes() == (
        GOLDEN / f"{EXAMPLE}.bin"
    ).read_bytes()
    assert not (tmp_path / "root").exists()  # -d replaces the host's policy root


def test_d_absolute(tmp_path: Path) -> None:
    pol = tmp_path / "abs pol"
    target = pol / f"{EXAMPLE_REL}-security_policy.xml"
    target.parent.mkdir(parents=True)
    shutil.copy(EXAMPLE_XML, target)
    result = run("--root", str(tmp_path / "root"), "makepolicy", "-d", str(pol), EXAMPLE)
    assert result.exit_code == 0, result.stderr
    assert _map_paths(pol / f"{EXAMPLE_REL}.map")[1] == f"{pol}/{EXAMPLE_REL}.bin"


def test_d_to_a_missing_dir_fails_cleanly(tmp_path: Path) -> None:
    result = run("--root", str(tmp_path), "makepolicy", "-d", str(tmp_path / "nope"), EXAMPLE)
    assert result.exit_code == 1
    assert "error ACM003: cannot read policy file" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- roots


def test_root_option_and_xm_root(tmp_path: Path) -> None:
    for how, root in (("option", tmp_path / "a"), ("env", tmp_path / "b")):
        HostPaths(root).seed_example()
        if how == "option":
            result = run("--root", str(root), "makepolicy", EXAMPLE)
        else:
            result = run("makepolicy", EXAMPLE, env={"XM_ROOT": str(root)})
        assert result.exit_code == 0, result.stderr
        map_file, bin_file = _outputs(root, EXAMPLE)
        assert bin_file.exists()
        assert _map_paths(map_file)[0].startswith(str(root / POLICIES_REL))


def test_root_option_beats_xm_root(tmp_path: Path) -> None:
    HostPaths(tmp_path / "opt").seed_example()
    HostPaths(tmp_path / "env").seed_example()
    result = run(
        "--root",
        str(tmp_path / "opt"),
        "makepolicy",
        EXAMPLE,
        env={"XM_ROOT": str(tmp_path / "env")},
    )
    assert result.exit_code == 0
    assert _outputs(tmp_path / "opt", EXAMPLE)[1].exists()
    assert not _outputs(tmp_path / "env", EXAMPLE)[1].exists()


def _xm_subprocess(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xm_core", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        timeout=120,
    )


def test_per_user_default_root_is_seeded_with_the_example(tmp_path: Path) -> None:
    if Path("/etc/xen").exists():
        pytest.skip("/etc/xen exists here, so the default root is /")
    data_home = tmp_path / "data"
    proc = _xm_subprocess(
        "makepolicy", EXAMPLE, env={"XDG_DATA_HOME": str(data_home)}, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    root = data_home / "xm-acm" / "root"
    # the one line that says the root was created where there was none
    assert (
        proc.stdout == ""
        and proc.stderr == f"Created host root '{root}', installed like a Xen host.\n"
    )
    assert (_policy_dir(root) / f"{EXAMPLE_REL}-security_policy.xml").is_file()
    map_file, bin_file = _outputs(root, EXAMPLE)
    assert bin_file.read_bytes() == (GOLDEN / f"{EXAMPLE}.bin").read_bytes()
    assert map_file.is_file()


def test_the_installed_xm_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "xm"
    if not script.exists():
        pytest.skip("the xm console script is not installed next to this interpreter")
    HostPaths(tmp_path).seed_example()
    proc = subprocess.run(
        [str(script), "--root", str(tmp_path), "makepolicy", EXAMPLE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert _outputs(tmp_path, EXAMPLE)[1].exists()


# ---------------------------------------------------------------- demo


def test_xm_demo_runs(tmp_path: Path) -> None:
    result = run("--root", str(tmp_path / "demo"), "demo")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"$ xm makepolicy {EXAMPLE}" in out
    assert re.search(r"dom dom_HomeBanking\s+ssidref 0x00020002", out)
    assert re.search(r"res res_HardDrive\(hda\)\s+ssidref 0x00080000", out)
    assert _outputs(tmp_path / "demo", EXAMPLE)[1].exists()


def test_xm_demo_without_a_root_removes_its_temporary_one() -> None:
    result = run("demo")
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.endswith(" (removed afterwards; --keep keeps it)")
    root = first.removeprefix("host root: ").split(" (")[0]
    assert "xm-demo-" in root and not Path(root).exists()


def test_xm_demo_keep_keeps_its_temporary_root() -> None:
    result = run("demo", "--keep")
    assert result.exit_code == 0, result.stderr
    root = result.stdout.splitlines()[0].removeprefix("host root: ")
    try:
        assert "xm-demo-" in root
        assert _outputs(Path(root), EXAMPLE)[1].exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
