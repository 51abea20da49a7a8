"""The `xm` console script (xm_core.cli.launch): the plain forms of
`xm makepolicy` and `xm list` run without click, everything else goes to
click, and both paths answer every command line alike."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xm_core.cli.commands
from tests.conftest import DATA, REPO
from xm_core.cli import launch
from xm_core.cli.launch import list_call, makepolicy_call
from xm_core.files.paths import POLICIES_REL, HostPaths

EXAMPLE = "example.chwall_ste.client_v1"
# name in the policy tree -> the file it is a copy of; one per outcome.
POLICIES = {
    "t.good": DATA / "compiler" / "valid.xml",
    "t.warn": DATA / "compiler" / "acm023_type_twice_in_label.xml",
    "t.bad": DATA / "compiler" / "acm011_ste_unknown_type.xml",
    "t.broken": DATA / "compiler" / "acm001_not_well_formed.xml",
}
WORK = "@WORK@"  # stands for the workspace folder in command lines and outputs


@pytest.mark.parametrize(
    ("args", "call"),
    [
        (["makepolicy", EXAMPLE], (None, None, EXAMPLE)),
        (["--root", "/r", "makepolicy", EXAMPLE], ("/r", None, EXAMPLE)),
        (["--root=/r", "makepolicy", "-d", "pol", EXAMPLE], ("/r", "pol", EXAMPLE)),
        (["makepolicy", EXAMPLE, "-d", "pol"], (None, "pol", EXAMPLE)),
        (["--root=", "makepolicy", EXAMPLE], None),  # empty: click refuses it
        (["makepolicy", ""], (None, None, "")),  # refused later, as click would
        (["makepolicy", "-d", "", "a.b"], (None, "", "a.b")),
    ],
)
def test_plain_makepolicy_command_lines_are_recognised(
    args: list[str], call: tuple[str | None, str | None, str]
) -> None:
    assert makepolicy_call(args) == call


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["makepolicy"],
        ["makepolicy", "--help"],
        ["makepolicy", "-h", EXAMPLE],
        ["--debug", "makepolicy", EXAMPLE],
        ["--root", "/r", "--root", "/s", "makepolicy", EXAMPLE],
        ["--root"],
        ["--root", "-x", "makepolicy", EXAMPLE],
        ["--rooted", "makepolicy", EXAMPLE],
        ["makepolicy", "a.b", "c.d"],
        ["makepolicy", "-d", "x", "-d", "y", "a.b"],
        ["makepolicy", "-d"],
        ["makepolicy", "-d", "-x", "a.b"],
        ["makepolicy", "-dpol", "a.b"],
        ["makepolicy", "--", "a.b"],
        ["makepolicy", "-", "a.b"],
        ["labels"],
        ["create", "x.cfg"],
    ],
)
def test_every_other_command_line_goes_to_click(args: list[str]) -> None:
    assert makepolicy_call(args) is None


# ------------------------------------------------- both paths answer alike


@contextmanager
def _workspace() -> Iterator[Path]:
    """A folder holding a host root (`root/`, with the example and POLICIES in
    its policy tree) and a `-d` policy folder (`pol/`, the same policies);
    the current directory while it is in use."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "root"
        HostPaths(root).seed_example()
        for tree in (root / POLICIES_REL, work / "pol"):
            for name, src in {**POLICIES, EXAMPLE: _example(root)}.items():
                target = tree / (name.replace(".", "/") + "-security_policy.xml")
                target.parent.mkdir(parents=True, exist_ok=True)
                if target != src:
                    shutil.copy(src, target)
        old = os.getcwd()
        os.chdir(work)
        try:
            yield work
        finally:
            os.chdir(old)


def _example(root: Path) -> Path:
    return root / POLICIES_REL / "example/chwall_ste/client_v1-security_policy.xml"


Outcome = tuple[int, str, str, dict[str, bytes]]


Prepare = Callable[[Path], None]  # makes the host root (the workspace's `root/`) a given host


def _run(
    entry: Callable[[list[str]], None], args: list[str], prepare: Prepare | None = None
) -> Outcome:
    """(exit status, stdout, stderr, files) of one command line run in a
    fresh workspace, with the workspace's path written as WORK."""
    with _workspace() as work:
        if prepare is not None:
            prepare(work / "root")
        argv = [a.replace(WORK, str(work)) for a in args]
        out, err = StringIO(), StringIO()
        pipe = signal.getsignal(signal.SIGPIPE)
        os.environ["XM_ROOT"] = str(work / "root")  # for command lines without --root
        try:
            with redirect_stdout(out), redirect_stderr(err):
                entry(argv)
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            signal.signal(signal.SIGPIPE, pipe)  # both paths set it; not for pytest
            del os.environ["XM_ROOT"]
        files = {
            str(p.relative_to(work)): p.read_bytes().replace(str(work).encode(), WORK.encode())
            for p in sorted(work.rglob("*"))
            if p.is_file()
        }
        text = (out.getvalue(), err.getvalue())
        return (status, *(t.replace(str(work), WORK) for t in text), files)


def _both(args: list[str], prepare: Prepare | None = None) -> tuple[Outcome, Outcome]:
    return _run(launch.main, args, prepare), _run(xm_core.cli.commands.main, args, prepare)


roots = st.sampled_from(
    [[], ["--root", f"{WORK}/root"], [f"--root={WORK}/root"], ["--root", ""], ["--root=x\0y"]]
)
names = st.sampled_from([EXAMPLE, *POLICIES, "t.missing", "a..b", "../x", "", "-x", "a/b"])
dirs = st.sampled_from(
    [[], ["-d", "pol"], ["-d", f"{WORK}/pol"], ["-d", "nowhere"], ["-d", "p\nq"]]
)


@settings(max_examples=60)
@given(root=roots, policy_dir=dirs, name=names, dir_last=st.booleans())
def test_the_fast_path_answers_as_click_does(
    root: list[str], policy_dir: list[str], name: str, dir_last: bool
) -> None:
    rest = [name, *policy_dir] if dir_last else [*policy_dir, name]
    fast, click_path = _both([*root, "makepolicy", *rest])
    assert fast == click_path


def test_the_fast_path_is_taken_and_compiles() -> None:
    args = ["--root", f"{WORK}/root", "makepolicy", "t.warn"]
    assert makepolicy_call(args) is not None
    status, out, err, files = _run(launch.main, args)
    assert (status, out) == (0, "")
    assert "warning ACM023" in err
    assert f"root/{POLICIES_REL}/t/warn.bin" in files


def test_an_interrupt_ends_both_paths_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("xm_core.host.policy.make_policy_under", interrupted)
    fast, click_path = _both(["--root", f"{WORK}/root", "makepolicy", EXAMPLE])
    assert fast == click_path
    assert fast[:3] == (1, "", "\nAborted!\n")


def test_help_and_other_commands_go_through_the_launcher() -> None:
    status, out, _, _ = _run(launch.main, ["makepolicy", "--help"])
    assert status == 0 and out.startswith("Usage: xm makepolicy [OPTIONS] POLICY")
    status, out, _, _ = _run(launch.main, ["--help"])
    assert status == 0 and "cfgbootpolicy" in out and "makepolicy" in out


# ------------------------------------------------- run as the process's command line


def _run_process(
    entry: str,
    args: list[str],
    stderr_to_full: bool = False,
    unbuffered: bool = True,
    prepare: Prepare | None = None,
) -> Outcome:
    """`_run` for the command line of a whole process (`main()` reading
    sys.argv, as the console script calls it), stderr to /dev/full when asked."""
    with _workspace() as work:
        if prepare is not None:
            prepare(work / "root")
        argv = [a.replace(WORK, str(work)) for a in args]
        env = {**os.environ, "XM_ROOT": str(work / "root"), "PYTHONUNBUFFERED": "1"}
        if not unbuffered:
            del env["PYTHONUNBUFFERED"]
        with open(os.devnull if not stderr_to_full else "/dev/full", "wb") as full:
            proc = subprocess.run(
                [sys.executable, "-c", f"from {entry} import main; main()", *argv],
                cwd=work,
                env=env,
                stdout=subprocess.PIPE,
                stderr=full if stderr_to_full else subprocess.PIPE,
                timeout=120,
            )
        files = {
            str(p.relative_to(work)): p.read_bytes().replace(str(work).encode(), WORK.encode())
            for p in sorted(work.rglob("*"))
            if p.is_file()
        }
        text = (proc.stdout.decode(), (proc.stderr or b"").decode())
        return (proc.returncode, *(t.replace(str(work), WORK) for t in text), files)


@pytest.mark.parametrize("name", [*POLICIES, "t.missing"])
def test_run_as_a_process_the_fast_path_ends_as_click_does(name: str) -> None:
    """The fast path ends its process at once (end_process): whatever it
    printed is flushed first, and the files and exit status are click's."""
    args = ["--root", f"{WORK}/root", "makepolicy", "-d", "pol", name]
    fast = _run_process("xm_core.cli.launch", args)
    assert fast == _run_process("xm_core.cli.commands", args)
    assert fast[0] == (0 if name in ("t.good", "t.warn") else 1)
    assert ("warning ACM023" in fast[2]) == (name == "t.warn")
    assert ("pol/t/good.bin" in fast[3]) == (name == "t.good")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("unbuffered", [True, False])
@pytest.mark.parametrize("name", ["t.warn", "t.bad"])
def test_a_message_that_cannot_be_written_fails_the_process_on_both_paths(
    name: str, unbuffered: bool
) -> None:
    args = ["--root", f"{WORK}/root", "makepolicy", "-d", "pol", name]
    fast = _run_process("xm_core.cli.launch", args, True, unbuffered)
    click_path = _run_process("xm_core.cli.commands", args, True, unbuffered)
    assert fast[0] == click_path[0] != 0
    assert fast[3] == click_path[3]


# ------------------------------------------------- the installed script


# What never loads on the way of `xm makepolicy`: nothing heavy on either path,
# and on the launcher's path neither click nor dataclasses (what keeps it fast),
# no other renderer, no reader of the host's state, no lint, no Unicode
# database for a name that is printable ASCII, and no thread for a small policy.
HEAVY = {"sqlite3", "networkx", "xmlschema", "json", "tempfile", "shutil", "importlib.resources"}
NOT_FOR_MAKEPOLICY = {
    "click",
    "dataclasses",
    "unicodedata",
    "threading",
    "bisect",  # columns of findings (acm.source.ColumnIndex)
    "signal",  # its C module `_signal` sets SIGPIPE (render.quiet_on_closed_pipe)
    "acm.lint",
    "acm.analysis",
    "acm.versioned",
    "xm_core.render.labels",
    "xm_core.render.lint",
    "xm_core.host.store",
    "xm_core.host.model",
    "xm_core.files.config",
}


@pytest.mark.parametrize(
    ("entry", "unwanted"),
    [("xm_core.cli.launch", HEAVY | NOT_FOR_MAKEPOLICY), ("xm_core.cli.commands", HEAVY)],
)
def test_makepolicy_imports_only_what_it_needs(
    tmp_path: Path, entry: str, unwanted: set[str]
) -> None:
    HostPaths(tmp_path).seed_example()
    code = (
        "import sys\n"
        f"from {entry} import main\n"
        "try:\n"
        f"    main(['--root', {str(tmp_path)!r}, 'makepolicy', {EXAMPLE!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(sorted(set({sorted(unwanted)!r}) & set(sys.modules)))\n"
        # acm.errors compiles its patterns for text that is not printable ASCII only.
        "print(sorted(sys.modules['acm.errors']._patterns))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "[]"]
    assert (tmp_path / POLICIES_REL / "example/chwall_ste/client_v1.bin").exists()


# ------------------------------------------------- xm list


@pytest.mark.parametrize(
    ("args", "call"),
    [
        (["list"], (None,)),
        (["--root", "/r", "list"], ("/r",)),
        (["--root=/r", "list"], ("/r",)),
    ],
)
def test_plain_list_command_lines_are_recognised(args: list[str], call: tuple[str | None]) -> None:
    assert list_call(args) == call
    assert makepolicy_call(args) is None


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--help"],
        ["list", "-l"],
        ["list", "--long"],
        ["list", "--label"],
        ["list", "--json"],
        ["list", "Domain-0"],
        ["list", "0"],
        ["list", "--"],
        ["list", "--lable"],
        ["--debug", "list"],
        ["--root", "/r", "--root", "/s", "list"],
        ["--root=", "list"],
        ["--root", "-x", "list"],
        ["lsit"],
        ["uptime"],
        ["list", "list"],
    ],
)
def test_every_other_list_command_line_goes_to_click(args: list[str]) -> None:
    assert list_call(args) is None


def _running(root: Path) -> None:
    """The example policy loaded and two domains running: one labeled by its
    config, one whose label is read from its ssidref."""
    from tests.hosttools import loaded_host
    from xm_core.host.domains import create_domain
    from xm_core.host.store import open_store

    paths = loaded_host(root)
    create_domain(paths, "bank")
    create_domain(paths, "boinc")
    with open_store(paths) as store, store.write():  # as a domain of Xen 3.0.4 was
        store.update_domain(2, label=None, policy=None)


def _damaged(root: Path) -> None:
    """A host state that is not a database: one clean error, exit 1."""
    state = HostPaths(root).state_db
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"not a database" * 100)


def _no_times(outcome: Outcome) -> Outcome:
    """The outcome with the host database's content left out (it holds the
    times and uuids of its creation; that it is there or not still counts)."""
    status, out, err, files = outcome
    return status, out, err, {k: b"" if k.endswith(".sqlite") else v for k, v in files.items()}


HOSTS: dict[str, Prepare | None] = {"fresh": None, "running": _running, "damaged": _damaged}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize(
    "root", [[], ["--root", f"{WORK}/root"], [f"--root={WORK}/nowhere"], ["--root=x\0y"]]
)
def test_the_fast_list_answers_as_click_does(root: list[str], host: str) -> None:
    fast, click_path = _both([*root, "list"], HOSTS[host])
    assert _no_times(fast) == _no_times(click_path)
    if root and "nowhere" in root[0]:
        assert fast[0] == 1 and "does not exist" in fast[2]
    elif root and "\0" in root[0]:
        assert fast[0] == 2
    elif host == "damaged":
        assert fast[0] == 1 and fast[1] == ""
    else:
        assert fast[0] == 0 and fast[1].splitlines()[1].startswith("Domain-0 ")
        assert ("bank " in fast[1] and "boinc " in fast[1]) == (host == "running")


def test_an_interrupted_list_ends_both_paths_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("xm_core.host.domains.list_domains", interrupted)
    fast, click_path = _both(["list"])
    assert _no_times(fast) == _no_times(click_path)
    assert fast[:3] == (1, "", "\nAborted!\n")


@pytest.mark.parametrize("host", ["fresh", "running"])
def test_run_as_a_process_the_fast_list_ends_as_click_does(host: str) -> None:
    fast = _run_process("xm_core.cli.launch", ["list"], prepare=HOSTS[host])
    click_path = _run_process("xm_core.cli.commands", ["list"], prepare=HOSTS[host])
    assert _no_times(fast) == _no_times(click_path)
    assert fast[0] == 0 and "Domain-0" in fast[1]


# What never loads on the way of `xm list`: no policy compiler, schema,
# analysis or config reader, on either path; and on the launcher's path no click.
NOT_FOR_LIST = {
    "lxml",
    "xmlschema",
    "networkx",
    "acm.lint",
    "acm.compiler",
    "xm_core.files.config",
    "xm_core.host.devices",
    "xm_core.host.lifecycle",
    "xm_core.host.update.plan",
}


@pytest.mark.parametrize("host", ["fresh", "running"])
@pytest.mark.parametrize(
    ("entry", "unwanted"),
    [("xm_core.cli.launch", NOT_FOR_LIST | {"click"}), ("xm_core.cli.commands", NOT_FOR_LIST)],
)
def test_list_imports_only_what_it_needs(
    tmp_path: Path, entry: str, unwanted: set[str], host: str
) -> None:
    prepare = HOSTS[host]
    if prepare is not None:
        prepare(tmp_path)
    else:
        HostPaths(tmp_path).seed_example()
    code = (
        "import sys\n"
        f"from {entry} import main\n"
        "try:\n"
        f"    main(['--root', {str(tmp_path)!r}, 'list'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(unwanted)!r} "
        f"or m in {sorted(unwanted)!r}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
    assert "Domain-0" in proc.stdout
