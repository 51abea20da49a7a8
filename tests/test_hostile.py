"""Hostile input (issue 13): one attack per class, run through every command
that reads that kind of file, in a subprocess with a time limit (a hang
fails the test instead of stalling CI). Each run must end in one error line
and its exit code, with no traceback and no file of the host changed.

Small attacks are files in tests/data/hostile/; big ones (200,000 schema
errors, a 5,000-digit number, deep nesting), FIFOs and symlinks to
/dev/zero are built here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest
from lxml import etree

from tests.conftest import DATA, REPO
from tests.hosttools import loaded_host, snapshot
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.host.store import StoreError

HOSTILE = DATA / "hostile"
WAITING = f"Waiting for another makepolicy of '{EXAMPLE_POLICY}' to finish...\n"
TIME_LIMIT_S = 20.0


class Ran(NamedTuple):
    code: int
    out: str
    err: str


def _run(argv: list[str], timeout: float = TIME_LIMIT_S, **kwargs: object) -> Ran:
    try:
        done = subprocess.run(
            argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, **kwargs
        )  # type: ignore[call-overload]
    except subprocess.TimeoutExpired:
        pytest.fail(f"{argv[3:]} ran longer than {timeout} s (a hang)")
    return Ran(done.returncode, done.stdout, done.stderr)


def xm(root: Path, *args: str, timeout: float = TIME_LIMIT_S) -> Ran:
    return _run([sys.executable, "-m", "xm_core", "--root", str(root), *args], timeout)


def acm_lint(*args: str) -> Ran:
    code = "import sys\nfrom xm_core.cli.commands import lint_main\nlint_main(sys.argv[1:])\n"
    return _run([sys.executable, "-c", code, *args])


def one_error(run: Ran, code: int, *words: str) -> str:
    """The run failed with `code` and said so in one line, no traceback."""
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err
    assert run.code == code, (run.code, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def state(root: Path) -> dict[str, str]:
    """A hash of every file below the root: what a failed command must leave
    alone. Lock files and SQLite's -wal/-shm, which readers may make and
    remove, are left out; the host database counts by what it holds (a
    refused create may still log its denial for `xm dmesg`)."""
    found = {}
    with contextlib.suppress(StoreError):  # damaged on purpose: then its bytes count
        found["host state"] = repr(snapshot(HostPaths(root)))
    for path in sorted(root.rglob("*")):
        if path.name == "host.sqlite" and "host state" in found:
            continue
        if path.is_symlink() or not path.is_file():
            found[str(path)] = "link" if path.is_symlink() else "other"
            continue
        if path.name.endswith((".lock", "-wal", "-shm")):
            continue
        found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    loaded_host(root)
    return root


def _policy_dir(root: Path) -> Path:
    return Path(HostPaths(root).policy_files(EXAMPLE_POLICY).xml).parent


# ------------------------------------------------------------------ limits


def test_many_schema_errors_on_one_line_take_linear_time(root: Path) -> None:
    """200,000 unknown attributes on one line: every command that reads
    policies finishes (was: still running after 60 s), and the text output
    shows 100 findings and how many more there were."""
    folder = _policy_dir(root)
    text = (DATA / "compiler" / "valid.xml").read_text().replace("tests.valid", "h.many")
    attrs = " ".join(f'a{i}="x"' for i in range(200_000))
    policy = folder.parent.parent / "h" / "many-security_policy.xml"
    policy.parent.mkdir()
    policy.write_text(text.replace("<PolicyHeader>", f"<PolicyHeader {attrs}>", 1))
    before = state(root)
    for run in (
        xm(root, "makepolicy", "h.many"),
        acm_lint(str(policy.parent)),
        xm(root, "acm", "graph", str(policy)),
    ):
        assert run.code == 1 and "Traceback" not in run.err
        shown = run.out + run.err  # acm-lint reports on stdout, the compiler on stderr
        lines = [ln for ln in shown.splitlines() if "ACM002" in ln]
        assert len(lines) == 100, shown[-500:]
        assert "... and 199900 more findings" in shown
    assert state(root) == before


def test_a_name_repeated_on_one_line_takes_linear_time(root: Path) -> None:
    """50,000 declarations of one type on one line: 49,999 ACM010 findings,
    each with the column of its own occurrence (was: about two minutes)."""
    folder = _policy_dir(root).parent.parent / "h"
    folder.mkdir()
    text = (DATA / "compiler" / "valid.xml").read_text().replace("tests.valid", "h.repeated")
    repeated = "<Type>ste_a</Type>" * 50_000
    policy = folder / "repeated-security_policy.xml"
    policy.write_text(text.replace("<Type>ste_a</Type>", repeated, 1))
    before = state(root)
    for run in (xm(root, "makepolicy", "h.repeated"), acm_lint(str(policy))):
        shown = run.out + run.err
        assert run.code == 1 and "Traceback" not in shown
        lines = [ln for ln in shown.splitlines() if "ACM010" in ln]
        more = re.search(r"\.\.\. and (\d+) more findings", shown)
        # lint may add notes of its own (ACM026), so its count can be higher
        assert len(lines) == 100 and more is not None and int(more.group(1)) >= 49_899
        columns = [int(ln.split(":")[2]) for ln in lines[:3]]
        assert columns[1] - columns[0] == columns[2] - columns[1] == len("<Type>ste_a</Type>")
    assert state(root) == before


def test_deeply_nested_xml_is_one_error(root: Path) -> None:
    """100,000 nested elements: libxml2's depth limit (2048) ends the parse."""
    folder = _policy_dir(root).parent.parent / "h"
    folder.mkdir()
    policy = folder / "deep-security_policy.xml"
    policy.write_text(
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        + "<a>" * 100_000
        + "</a>" * 100_000
        + "</SecurityPolicyDefinition>"
    )
    before = state(root)
    one_error(xm(root, "makepolicy", "h.deep"), 1, "ACM001", "Excessive depth")
    one_error(xm(root, "acm", "graph", str(policy)), 1, "Excessive depth")
    lint = acm_lint(str(policy))
    assert lint.code == 1 and "Traceback" not in lint.err
    assert len(lint.out.splitlines()) == 1 and "ACM001" in lint.out
    assert state(root) == before


def _special(folder: Path, name: str, kind: str) -> Path:
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    return path


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_policy_that_is_not_a_regular_file_is_refused(root: Path, kind: str) -> None:
    folder = _policy_dir(root).parent.parent / "h"
    folder.mkdir()
    policy = _special(folder, "special-security_policy.xml", kind)
    expected = "a FIFO" if kind == "fifo" else "a character device"
    before = state(root)
    one_error(xm(root, "makepolicy", "h.special"), 1, "ACM003", expected)
    one_error(xm(root, "acm", "graph", str(policy)), 1, expected)
    run = acm_lint(str(folder))  # a git checkout can carry such a link
    assert run.code == 1 and "Traceback" not in run.err
    assert f"ACM003: cannot read policy file: is not a regular file ({expected})" in run.out
    assert state(root) == before


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_compiled_files_that_are_not_regular_files_are_refused(root: Path, kind: str) -> None:
    files = HostPaths(root).policy_files(EXAMPLE_POLICY)
    for output in (files.bin, files.map):
        saved = Path(output).read_bytes()
        Path(output).unlink()
        _special(Path(output).parent, Path(output).name, kind)
        before = state(root)
        one_error(xm(root, "loadpolicy", EXAMPLE_POLICY), 1, "not a regular file")
        if output == files.map:
            one_error(xm(root, "labels", EXAMPLE_POLICY), 1, "not a regular file")
        else:
            one_error(xm(root, "cfgbootpolicy", EXAMPLE_POLICY), 1)
        assert state(root) == before
        Path(output).unlink()
        Path(output).write_bytes(saved)


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_resource_label_file_that_is_not_a_regular_file_is_refused(root: Path, kind: str) -> None:
    labels = HostPaths(root).resource_labels
    labels.unlink()
    _special(labels.parent, labels.name, kind)
    before = state(root)
    one_error(xm(root, "resources"), 1, "Resource label file", "not a regular file")
    one_error(xm(root, "getlabel", "res", "phy:hda1"), 1, "not a regular file")
    one_error(xm(root, "addlabel", "res_HardDrive(hda)", "res", "phy:hdb"), 1, "not a regular file")
    assert state(root) == before


def test_a_linked_resource_label_file_gets_no_lock_beside_its_target(
    root: Path, tmp_path: Path
) -> None:
    """A label file linked to a FIFO (or /dev/zero) outside the root: the
    writers refuse it before making their lock beside the target."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "fifo")
    labels = HostPaths(root).resource_labels
    labels.unlink()
    labels.symlink_to(outside / "fifo")
    before = state(root)
    for args in (
        ["addlabel", "res_HardDrive(hda)", "res", "phy:hdb"],
        ["rmlabel", "res", "phy:hda1"],
    ):
        one_error(xm(root, *args), 1, f"Resource label file '{labels}' is not a regular file")
    assert sorted(p.name for p in outside.iterdir()) == ["fifo"]
    assert state(root) == before


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_config_that_is_not_a_regular_file_is_refused(root: Path, kind: str) -> None:
    cfg = _special(root, "special.cfg", kind)
    before = state(root)
    one_error(xm(root, "create", str(cfg)), 1, "not a regular file")
    one_error(xm(root, "acm", "explain", str(cfg)), 1, "not a regular file")
    one_error(xm(root, "getlabel", "dom", str(cfg)), 1, "not a regular file")
    one_error(xm(root, "addlabel", "dom_Fun", "dom", str(cfg)), 1, "not a regular file")
    assert state(root) == before


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_test_file_or_lint_config_that_is_not_a_regular_file_is_refused(
    root: Path, kind: str
) -> None:
    toml = _special(root, "special.toml", kind)
    before = state(root)
    one_error(xm(root, "acm", "test", str(toml)), 2, "not a regular file")
    lint = acm_lint("--config", str(toml), str(DATA / "lint" / "clean-security_policy.xml"))
    one_error(lint, 2, "not a regular file")
    assert state(root) == before


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_save_file_or_boot_menu_that_is_not_a_regular_file_is_refused(
    root: Path, kind: str
) -> None:
    save = _special(root, "special.save", kind)
    paths = HostPaths(root)
    paths.grub_dir.mkdir(parents=True)
    _special(paths.grub_dir, "menu.lst", kind)
    before = state(root)
    one_error(xm(root, "restore", str(save)), 1, "not a regular file")
    one_error(xm(root, "cfgbootpolicy", EXAMPLE_POLICY), 1, "menu.lst")
    assert state(root) == before


def test_a_file_over_its_limit_is_refused_without_reading_it(root: Path) -> None:
    """A sparse 300 MiB policy: refused from its size, in one line."""
    folder = _policy_dir(root).parent.parent / "h"
    folder.mkdir()
    with open(folder / "huge-security_policy.xml", "wb") as f:
        f.truncate(300 * 1024 * 1024)
    before = state(root)
    one_error(xm(root, "makepolicy", "h.huge"), 1, "larger than the limit of 256 MiB")
    assert state(root) == before


# ------------------------------------------------------------------ deep and huge values


def test_deep_toml_is_one_error(root: Path) -> None:
    for name, text in (
        ("deep_array.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n"),
        ("deep_table.toml", "x = " + "{a=" * 2000 + "1" + "}" * 2000 + "\n"),
    ):
        toml = root / name
        toml.write_text(text)
        before = state(root)
        one_error(xm(root, "acm", "test", str(toml)), 2, "nested too deeply")
        lint = acm_lint("--config", str(toml), str(DATA / "lint" / "clean-security_policy.xml"))
        one_error(lint, 2, "nested too deeply")
        assert state(root) == before


def test_huge_numbers_in_a_config_are_one_error(root: Path) -> None:
    for value in ("9" * 5000, "0x" + "f" * 5000):
        cfg = root / "huge.cfg"
        cfg.write_text(f'name = "huge"\nmemory = 64\nextra = {value}\n')
        before = state(root)
        one_error(xm(root, "create", str(cfg)), 2)
        one_error(xm(root, "acm", "explain", str(cfg)), 2)
        assert state(root) == before


def test_a_save_file_with_a_huge_number_is_one_error(root: Path) -> None:
    save = root / "huge.save"
    save.write_text('{"format": "xm-acm-save", "version": ' + "9" * 5000 + "}\n")
    before = state(root)
    one_error(xm(root, "restore", str(save)), 2)
    assert state(root) == before


# ------------------------------------------------------------------ names


def test_a_policy_name_that_is_a_path_is_a_compiler_error(root: Path) -> None:
    folder = _policy_dir(root).parent.parent / "h"
    folder.mkdir()
    shutil.copy(HOSTILE / "policyname_traversal-security_policy.xml", folder)
    before = state(root)
    line = one_error(xm(root, "makepolicy", "h.policyname_traversal"), 1, "error ACM016")
    assert "PolicyName '../../x' is not a dotted policy name" in line
    lint = acm_lint(str(folder / "policyname_traversal-security_policy.xml"))
    assert lint.code == 1 and "error ACM016" in lint.out and "ACM018" not in lint.out
    assert state(root) == before
    labels = xm(root, "labels")  # the loaded policy is untouched: its labels still list
    assert labels.code == 0 and "dom_Fun" in labels.out, labels.err


def test_a_label_with_a_line_break_cannot_forge_output(root: Path) -> None:
    cfg = HOSTILE / "label_line_break.cfg"
    run = xm(root, "getlabel", "dom", str(cfg))
    assert run.code == 0 and "Traceback" not in run.err
    assert run.out.splitlines() == [
        "policy=example.chwall_ste.client_v1,label=dom_Fun\\nFORGED LINE"
    ]
    before = state(root)
    one_error(xm(root, "create", str(cfg)), 1)
    assert state(root) == before


def test_a_label_with_a_line_break_is_one_line_in_every_report(root: Path) -> None:
    """dry-run, explain and create -n print the label on its line, escaped
    (Xen's sxp.show wrote such an atom with Python's escapes)."""
    cfg = str(HOSTILE / "label_line_break.cfg")
    for args, code in (
        (["dry-run", cfg], 1),
        (["acm", "explain", cfg], 1),
        (["create", "-n", cfg], 0),
    ):
        run = xm(root, *args)
        assert run.code == code and "Traceback" not in run.err, (args, run.err)
        assert not any(line.startswith("FORGED") for line in run.out.splitlines()), run.out
        assert "dom_Fun\\nFORGED LINE" in run.out, run.out
    toml = root / "forged.toml"
    toml.write_text(
        f'policy = "{EXAMPLE_POLICY}"\n[[step]]\nname = "x\\n  PASS  forged"\n'
        'create = "a"\nexpect = "permitted"\n'
    )
    run = xm(root, "acm", "test", str(toml))
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert [line for line in run.out.splitlines() if "PASS" in line] == [
        "  FAIL  step 1: x\\n  PASS  forged: denied"
    ]


def test_addlabel_refuses_a_config_that_sets_ssidref(root: Path) -> None:
    cfg = root / "numbered.cfg"
    shutil.copy(HOSTILE / "ssidref_set.cfg", cfg)
    before = state(root)
    one_error(xm(root, "addlabel", "dom_Fun", "dom", str(cfg)), 1, "sets ssidref")
    assert state(root) == before


def test_junit_holds_only_xml_characters(root: Path) -> None:
    junit = root / "junit.xml"
    toml = root / "control_name.toml"
    shutil.copy(HOSTILE / "control_name.toml", toml)
    run = xm(root, "acm", "test", "--junit", str(junit), str(toml))
    assert run.code == 0 and "Traceback" not in run.err, run.err
    assert "\x1b" not in run.out and "\x00" not in run.out
    suite = etree.parse(str(junit)).getroot()  # raises on a character XML cannot hold
    names = [s.get("name") for s in suite.iter("testsuite")]
    assert names == ["bell\\x07 escape\\x1b[31m nul\\x00 end"]


# ------------------------------------------------------------------ the host state


def test_an_empty_host_database_is_an_error_not_a_new_host(root: Path) -> None:
    db = HostPaths(root).state_db
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"")
    before = state(root)
    one_error(xm(root, "list"), 1, "is empty (0 bytes)")
    one_error(xm(root, "create", str(HostPaths(root).etc_xen / "fun")), 1, "is empty")
    one_error(xm(root, "loadpolicy", EXAMPLE_POLICY), 1, "is empty")
    assert state(root) == before and db.read_bytes() == b""


def test_a_database_without_our_schema_is_an_error(root: Path) -> None:
    db = HostPaths(root).state_db
    for extra in ("", "-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    sqlite3.connect(db).close()  # a valid, empty SQLite file
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 0")
    conn.execute("VACUUM")
    conn.close()
    if db.stat().st_size == 0:  # SQLite may leave an empty database at 0 bytes
        pytest.skip("this SQLite writes nothing for an empty database")
    before = state(root)
    one_error(xm(root, "list"), 1, "not an xm-acm database")
    assert state(root) == before


@pytest.fixture
def read_only_root() -> Iterator[tuple[Path, list[str]]]:
    """A root this test's `xm` runs cannot write: as root, the runs drop to
    `nobody` (root ignores file modes); otherwise the folders lose their w bit."""
    base = Path(tempfile.mkdtemp(prefix="xm-ro-", dir="/tmp"))
    try:
        base.chmod(0o755)
        root = base / "root"
        root.mkdir()
        loaded_host(root)
        prefix: list[str] = []
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: cannot make a read-only root")
            prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
            for path in [root, *root.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        else:
            for path in [*root.rglob("*"), root]:
                path.chmod(0o555 if path.is_dir() else 0o444)
        yield root, prefix
    finally:
        for path in base.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(base)


def test_read_only_commands_work_on_a_read_only_root(
    read_only_root: tuple[Path, list[str]],
) -> None:
    root, prefix = read_only_root
    before = state(root)

    def ro(*args: str) -> Ran:
        return _run([*prefix, sys.executable, "-m", "xm_core", "--root", str(root), *args])

    listed = ro("list")
    assert listed.code == 0 and "Domain-0" in listed.out, listed.err
    labels = ro("labels")
    assert labels.code == 0 and "dom_Fun" in labels.out, labels.err
    assert ro("dmesg").code == 0
    one_error(ro("create", str(HostPaths(root).etc_xen / "fun")), 1, "read-only", "needs to")
    one_error(ro("makepolicy", EXAMPLE_POLICY), 1, "Cannot write")
    assert state(root) == before


# ------------------------------------------------------------------ one writer per policy


def test_leftovers_of_a_killed_compile_are_removed_by_the_next(root: Path) -> None:
    folder = _policy_dir(root)
    stray = [
        folder / ".client_v1.map.0123456789ab.tmp",
        folder / ".client_v1.bin.ba9876543210.tmp",
        folder / ".client_v1.bin.00aa00aa00aa.old",
        folder / "..client_v1.map.pending.abcdefabcdef.tmp",
    ]
    for path in stray:
        path.write_bytes(b"left by a kill")
    unrelated = folder / ".notes.tmp"
    unrelated.write_bytes(b"not ours")
    run = xm(root, "makepolicy", EXAMPLE_POLICY)
    assert run.code == 0, run.err
    assert not any(p.exists() for p in stray) and unrelated.exists()


def test_a_second_compile_waits_or_fails_with_no_wait(root: Path) -> None:
    files = HostPaths(root).policy_files(EXAMPLE_POLICY)
    lock = os.open(files.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = state(root)
        line = one_error(xm(root, "makepolicy", "--no-wait", EXAMPLE_POLICY), 1)
        assert "being compiled by another process" in line and ".tmp" not in line
        assert state(root) == before
        waiting = subprocess.Popen(
            [sys.executable, "-m", "xm_core", "--root", str(root), "makepolicy", EXAMPLE_POLICY],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)
        assert waiting.poll() is None  # still waiting for the lock
    finally:
        os.close(lock)
    out, err = waiting.communicate(timeout=TIME_LIMIT_S)
    assert waiting.returncode == 0, err
    assert err == WAITING


def _pair(files_map: str, files_bin: str) -> tuple[bytes, bytes]:
    return Path(files_map).read_bytes(), Path(files_bin).read_bytes()


@pytest.mark.slow
def test_parallel_compiles_of_one_policy_always_leave_a_matching_pair(tmp_path: Path) -> None:
    """8 parallel `xm makepolicy` of one policy, 10 rounds, while the source
    switches between two versions: every run succeeds (some after waiting),
    no message names a temporary, and the `.map` and `.bin` always come from
    one compile."""
    root = tmp_path / "root"
    root.mkdir()
    paths = HostPaths(root)
    paths.seed_example()
    files = paths.policy_files(EXAMPLE_POLICY)
    xml = Path(files.xml)
    versions = [xml.read_text()]
    versions.append(versions[0].replace("dom_Fun", "dom_Games"))
    pairs = []
    for text in versions:
        xml.write_text(text)
        assert xm(root, "makepolicy", EXAMPLE_POLICY).code == 0
        pairs.append(_pair(files.map, files.bin))
    assert pairs[0] != pairs[1]

    command = [sys.executable, "-m", "xm_core", "--root", str(root), "makepolicy", EXAMPLE_POLICY]
    for round_number in range(10):
        with ThreadPoolExecutor(max_workers=9) as pool:
            runs = [pool.submit(_run, command, 120.0) for _ in range(8)]
            for i in range(4):  # the source changes while they run
                tmp = xml.with_name(f".switch{i}")
                tmp.write_text(versions[(round_number + i) % 2])
                os.replace(tmp, xml)
                time.sleep(0.05)
            results = [r.result() for r in runs]
        for run in results:
            assert run.code == 0, run.err
            assert "Traceback" not in run.err and ".tmp" not in run.err
            assert run.err in ("", WAITING)
        assert _pair(files.map, files.bin) in pairs, f"round {round_number}: a mixed pair"
    leftovers = [p.name for p in xml.parent.iterdir() if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []


def test_parallel_first_commands_make_one_host(tmp_path: Path) -> None:
    """8 `xm list` on a root without a database, at once: every one succeeds
    (none sees a half-made file as an empty database), and one host results;
    a half-made database of a killed creator is removed."""
    root = tmp_path / "root"
    state_dir = HostPaths(root).state_dir
    state_dir.mkdir(parents=True)
    dead = state_dir / ".host.sqlite.999999999.0123abcd.new"  # no such process
    dead.write_bytes(b"half made")
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(lambda _: xm(root, "list"), range(8)))
    for run in runs:
        assert run.code == 0 and "Domain-0" in run.out, run.err
    assert sorted(p.name for p in state_dir.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "host.sqlite"
    ]


def test_leftovers_of_killed_label_writers_are_removed_by_the_next(root: Path) -> None:
    paths = HostPaths(root)
    cfg = paths.etc_xen / "unlabeled"
    stray = [
        cfg.with_name(".unlabeled.0123456789ab.tmp"),
        paths.resource_labels.with_name(".resource_labels.0123456789ab.tmp"),
    ]
    for path in stray:
        path.write_bytes(b"left by a kill")
    assert xm(root, "addlabel", "dom_Fun", "dom", str(cfg)).code == 0
    assert xm(root, "addlabel", "res_HardDrive(hda)", "res", "phy:hdb").code == 0
    assert not any(p.exists() for p in stray)


def test_a_planted_journal_renames_and_deletes_nothing_else(root: Path) -> None:
    """A `.map.pending` journal carried in by a checkout names other files:
    the reader that finishes batches acts only on temporaries of ours."""
    files = HostPaths(root).policy_files(EXAMPLE_POLICY)
    folder = Path(files.map).parent
    source, target, precious = root / "attacker", root / "victim", root / "precious"
    source.write_bytes(b"attacker's")
    target.write_bytes(b"victim's")
    precious.write_bytes(b"precious")
    journal = folder / ".client_v1.map.pending"
    journal.write_text(f"replace\t{source}\t{target}\ndrop\t{precious}\n")
    run = xm(root, "loadpolicy", EXAMPLE_POLICY)
    assert "Traceback" not in run.err
    assert target.read_bytes() == b"victim's" and precious.read_bytes() == b"precious"
    assert source.exists() and not journal.exists()


def test_a_journal_that_is_a_fifo_is_one_error(root: Path) -> None:
    files = HostPaths(root).policy_files(EXAMPLE_POLICY)
    os.mkfifo(Path(files.map).parent / ".client_v1.map.pending")
    before = state(root)
    one_error(xm(root, "loadpolicy", EXAMPLE_POLICY), 1, "not a regular file")
    one_error(xm(root, "makepolicy", EXAMPLE_POLICY), 1, "not a regular file")
    assert state(root) == before


def test_a_symlink_planted_as_the_lock_is_not_followed(root: Path) -> None:
    lock = HostPaths(root).policy_files(EXAMPLE_POLICY).lock
    target = root / "elsewhere"
    lock.unlink(missing_ok=True)
    lock.symlink_to(target)
    before = state(root)
    one_error(xm(root, "makepolicy", EXAMPLE_POLICY), 1, "Cannot lock", "nothing was changed")
    assert not target.exists() and state(root) == before


# ------------------------------------------------------------------ files written


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(
    root: Path, kind: str
) -> None:
    """`-o /dev/stdout` or `dump-core DOM /dev/null` run as root: the write
    must not rename a plain file over the device (or FIFO, or link to one)."""
    fifo = root / "out.fifo"
    os.mkfifo(fifo)
    target = fifo if kind == "fifo" else root / "out.link"
    if kind == "link":
        target.symlink_to(fifo)
    cfg = root / "bank.cfg"
    cfg.write_text(f"name = 'bank'\naccess_control = ['policy={EXAMPLE_POLICY},label=dom_Fun']\n")
    assert xm(root, "create", str(cfg)).code == 0
    toml = root / "one.toml"
    toml.write_text(f'policy = "{EXAMPLE_POLICY}"\n[[step]]\ncreate = "a"\nexpect = "permitted"\n')
    workload = DATA / "generate" / "golden" / "clinics.toml"
    before = state(root)
    for args in (
        ["dump-core", "bank", str(target)],
        ["save", "bank", str(target)],
        ["acm", "generate", str(workload), "--name", "clinics", "-o", str(target)],
        ["acm", "test", "--junit", str(target), str(toml)],
    ):
        one_error(xm(root, *args), 1, f"Not a regular file (a FIFO): {target}")
        assert fifo.is_fifo() and (kind == "fifo" or target.is_symlink()), args
    assert state(root) == before


# ------------------------------------------------------------------ one escaping rule


def test_unicode_format_characters_in_a_label_are_printed_escaped(root: Path) -> None:
    """U+202E turns the rest of a line around, U+200B is invisible: printed
    as escapes, like control characters (acm.errors.escape_controls)."""
    run = xm(root, "getlabel", "dom", str(HOSTILE / "label_format_chars.cfg"))
    assert run.code == 0 and "Traceback" not in run.err
    assert run.out == "policy=example.chwall_ste.client_v1,label=dom_\\u202eFun\\u200b\n"
    assert "\u202e" not in run.err and "\u202e" not in run.out


def test_a_configs_exception_text_cannot_forge_a_line(root: Path) -> None:
    before = state(root)
    line = one_error(xm(root, "create", str(HOSTILE / "raise_line_break.cfg")), 1)
    assert "ValueError: bad value\\nError: FORGED LINE" in line
    assert state(root) == before


def test_the_compiler_refuses_the_characters_lint_flags_in_names(root: Path) -> None:
    """A label named with U+202E was compiled (lint called it an error):
    now makepolicy refuses it too, with lint's reason (ACM016)."""
    source = (DATA / "compiler" / "valid.xml").read_text(encoding="utf-8")
    folder = _policy_dir(root).parent.parent / "h"
    folder.mkdir()
    (folder / "mirror-security_policy.xml").write_text(
        source.replace("<Name>dom_a</Name>", "<Name>dom_\u202ea</Name>"), encoding="utf-8"
    )
    before = state(root)
    line = one_error(xm(root, "makepolicy", "h.mirror"), 1, "error ACM016")
    assert "'dom_\\u202ea' contains the invisible formatting character U+202E" in line
    assert "\u202e" not in line
    assert state(root) == before
    lint = acm_lint(str(folder / "mirror-security_policy.xml"))
    assert lint.code == 1 and lint.out.count("error ACM016") == 1, lint.out
