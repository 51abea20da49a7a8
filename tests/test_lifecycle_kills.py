"""save, restore, suspend, resume and migrate killed at every step: the
host ends before or after the command, never between, and the next command
settles what the kill left (xm_core.files.intents).

A kill point is "just before the k-th step", a step being a transaction's
BEGIN or COMMIT (a trace callback on every connection; a kill anywhere
between the two is the same rollback as one just before the COMMIT) or any
rename, unlink or fsync; the child dies with `os._exit`, as SIGKILL would
leave it: no rollback, no clean-up, no `finally`. Every k from the first
step to the last is tried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hosttools import loaded_host
from xm_core.files.paths import HostPaths
from xm_core.files.savefile import read_save_file
from xm_core.host.lifecycle import settle
from xm_core.host.store import open_store

pytestmark = pytest.mark.slow

CHILD = r"""
import os, sys
limit = int(sys.argv[1])
steps = 0

def step(sql=None):
    global steps
    if sql is not None and sql.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT"):
        return
    steps += 1
    if steps == limit:
        os._exit(9)

import xm_core.host.store as store_module
opened = store_module.Store.open.__func__

def open_traced(cls, path, busy_timeout=store_module.BUSY_TIMEOUT_S):
    store = opened(cls, path, busy_timeout)
    store.conn.set_trace_callback(step)
    return store

store_module.Store.open = classmethod(open_traced)
for name in ("replace", "rename", "unlink", "fsync"):
    def wrapped(*args, _real=getattr(os, name), **kwargs):
        step()
        return _real(*args, **kwargs)
    setattr(os, name, wrapped)

from xm_core.cli.commands import main
try:
    main(sys.argv[2:])
finally:
    print(f"steps={steps}", file=sys.stderr)
"""


def _run(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(limit), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _steps(*args: str) -> int:
    """How many steps the whole command takes (run once, not killed)."""
    done = _run(0, *args)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.rsplit("steps=", 1)[1])


def _domains(root: Path) -> dict[str, str]:
    with open_store(HostPaths(root)) as store:
        return {d.name: d.uuid for d in store.domains() if d.domid != 0}


def _intents_and_temporaries(*folders: Path) -> list[str]:
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".json"))]
    return found


def _kill_everywhere(
    make: Callable[[], list[str]],
    check: Callable[[int, bool], None],
) -> int:
    """`make()` prepares a fresh host and gives the command line; it is run
    killed before each of its steps; `check(k, died)` judges the result
    after the host was settled. The number of kill points tried."""
    total = _steps(*make())
    assert total >= 2
    for k in range(1, total + 1):
        args = make()
        done = _run(k, *args)
        assert done.returncode in (0, 9), done.stderr
        assert "Traceback" not in done.stderr
        check(k, done.returncode == 9)
    return total


@pytest.fixture
def hosts(tmp_path: Path) -> Callable[[], tuple[Path, Path]]:
    """A maker of a fresh pair of hosts with `bank` running on the first."""
    template = tmp_path / "template"
    for name in ("a", "b"):
        loaded_host(template / name)
    first = subprocess.run(
        [sys.executable, "-m", "xm_core", "--root", str(template / "a"), "create", "bank"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "XM_ROOT"},
    )
    assert first.returncode == 0, first.stderr
    count = [0]

    def fresh() -> tuple[Path, Path]:
        import shutil

        count[0] += 1
        here = tmp_path / f"run{count[0]}"
        shutil.copytree(template, here, symlinks=True)
        return here / "a", here / "b"

    return fresh


def test_save_killed_anywhere_leaves_the_domain_or_its_file(
    hosts: Callable[[], tuple[Path, Path]],
) -> None:
    state: dict[str, Path] = {}

    def make() -> list[str]:
        state["a"], _ = hosts()
        state["file"] = state["a"].parent / "bank.save"
        return ["--root", str(state["a"]), "save", "bank", str(state["file"])]

    def check(k: int, died: bool) -> None:
        root, file = state["a"], state["file"]
        settle(HostPaths(root))
        running = "bank" in _domains(root)
        assert running != file.exists(), f"kill point {k}: running={running}"
        if file.exists():
            assert read_save_file(file).name == "bank"
        assert _intents_and_temporaries(root.parent, HostPaths(root).intents_dir) == []

    _kill_everywhere(make, check)


def test_suspend_and_resume_killed_anywhere_keep_the_domain(
    hosts: Callable[[], tuple[Path, Path]],
) -> None:
    state: dict[str, Path] = {}

    def image(root: Path) -> Path:
        return HostPaths(root).suspended_dir / "bank.save"

    def check_one_place(k: int) -> bool:
        root = state["a"]
        settle(HostPaths(root))
        running = "bank" in _domains(root)
        assert running != image(root).exists(), f"kill point {k}: running={running}"
        folders = (HostPaths(root).suspended_dir, HostPaths(root).intents_dir)
        assert _intents_and_temporaries(*folders) == []
        return running

    def make_suspend() -> list[str]:
        state["a"], _ = hosts()
        return ["--root", str(state["a"]), "suspend", "bank"]

    def check_suspend(k: int, died: bool) -> None:
        running = check_one_place(k)
        # the next suspend or resume works: nothing stuck
        verb = "suspend" if running else "resume"
        done = _run(0, "--root", str(state["a"]), verb, "bank")
        assert done.returncode == 0, f"kill point {k}: {verb}: {done.stderr}"

    _kill_everywhere(make_suspend, check_suspend)

    def make_resume() -> list[str]:
        state["a"], _ = hosts()
        assert _run(0, "--root", str(state["a"]), "suspend", "bank").returncode == 0
        return ["--root", str(state["a"]), "resume", "bank"]

    def check_resume(k: int, died: bool) -> None:
        running = check_one_place(k)
        verb = "suspend" if running else "resume"
        done = _run(0, "--root", str(state["a"]), verb, "bank")
        assert done.returncode == 0, f"kill point {k}: {verb}: {done.stderr}"

    _kill_everywhere(make_resume, check_resume)


def test_restore_killed_anywhere_restores_whole_or_not_at_all(
    hosts: Callable[[], tuple[Path, Path]],
) -> None:
    state: dict[str, Path] = {}

    def make() -> list[str]:
        state["a"], _ = hosts()
        state["file"] = state["a"].parent / "bank.save"
        assert (
            _run(0, "--root", str(state["a"]), "save", "bank", str(state["file"])).returncode == 0
        )
        return ["--root", str(state["a"]), "restore", str(state["file"])]

    def check(k: int, died: bool) -> None:
        root = state["a"]
        settle(HostPaths(root))
        with open_store(HostPaths(root)) as store:
            bank = store.find_domain("bank")
            if bank is not None:  # whole: with its devices
                assert store.devices(bank.domid), f"kill point {k}: restored without devices"
        assert state["file"].exists()  # restore never touches its file
        if not died:
            assert bank is not None

    _kill_everywhere(make, check)


def test_migrate_killed_anywhere_leaves_the_domain_on_one_host(
    hosts: Callable[[], tuple[Path, Path]],
) -> None:
    state: dict[str, Path] = {}

    def make() -> list[str]:
        state["a"], state["b"] = hosts()
        return ["--root", str(state["a"]), "migrate", "bank", str(state["b"])]

    def check(k: int, died: bool) -> None:
        a, b = state["a"], state["b"]
        # the target's side first: either host's next command settles
        settle(HostPaths(b))
        settle(HostPaths(a))
        places = ("bank" in _domains(a), "bank" in _domains(b))
        assert places in ((True, False), (False, True)), f"kill point {k}: {places}"
        if not died:
            assert places == (False, True)
        folders = (HostPaths(a).intents_dir, HostPaths(b).intents_dir)
        assert _intents_and_temporaries(*folders) == []
        # and it moves on from where it is
        src, dst = (a, b) if places[0] else (b, a)
        done = _run(0, "--root", str(src), "migrate", "bank", str(dst))
        assert done.returncode == 0, f"kill point {k}: {done.stderr}"

    tried = _kill_everywhere(make, check)
    assert tried > 10


def test_a_settled_intent_is_logged(hosts: Callable[[], tuple[Path, Path]]) -> None:
    """What the next run finished is said in the host's log."""
    a, _ = hosts()
    args = ["--root", str(a), "suspend", "bank"]
    total = _steps(*args)
    a, _ = hosts()
    # the last rename of the image is the step before the intent goes: kill there
    for k in range(total, 0, -1):
        a, _ = hosts()
        if _run(k, "--root", str(a), "suspend", "bank").returncode != 9:
            continue
        if (
            list(HostPaths(a).intents_dir.glob("*.json"))
            and not (HostPaths(a).suspended_dir / "bank.save").exists()
        ):
            break
    else:
        pytest.fail("no kill point between the commit and the image's rename")
    done = settle(HostPaths(a))
    assert done == [
        f"A suspend killed after it committed was finished "
        f"({HostPaths(a).suspended_dir / 'bank.save'} written)"
    ]
    log = subprocess.run(
        [sys.executable, "-m", "xm_core", "--root", str(a), "log"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout
    assert done[0] in log
    assert json.loads(json.dumps(done))  # plain text lines


def test_any_command_on_either_host_settles_a_migrate_killed_between_its_commits(
    hosts: Callable[[], tuple[Path, Path]],
) -> None:
    """Killed after the target's commit and before the source's, the domain
    is on both hosts for an instant; the next command line on the target
    (here `xm list`) settles it, and the source no longer has it."""
    a, b = hosts()
    total = _steps("--root", str(a), "migrate", "bank", str(b))
    for k in range(1, total + 1):
        a, b = hosts()
        if _run(k, "--root", str(a), "migrate", "bank", str(b)).returncode != 9:
            continue
        if "bank" in _domains(a) and "bank" in _domains(b):
            break
    else:
        pytest.fail("no kill point between the two commits")
    listed = _run(0, "--root", str(b), "list")
    assert listed.returncode == 0 and "bank" in listed.stdout
    assert "bank" not in _domains(a) and "bank" in _domains(b)
    assert _intents_and_temporaries(HostPaths(a).intents_dir, HostPaths(b).intents_dir) == []
