"""`xm cfgbootpolicy` under races and kills: concurrent runs on different
entries all keep their edit (the menu is read, edited and written under the
menu's lock), and what a killed run left (a batch between its renames, its
temporaries) is finished or removed by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from xm_core.files.paths import HostPaths

POLICY = "example.chwall_ste.client_v1"
RUNS = 16


def _entry(i: int) -> bytes:
    return (
        f"title Xen {i:02d} / Linux\n"
        "\troot (hd0,0)\n"
        "\tkernel /boot/xen-3.0.4-1.gz\n"
        f"\tmodule /boot/vmlinuz-{i:02d} root=/dev/sda1 ro\n"
        "\n"
    ).encode()


def _xm(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
    return subprocess.Popen(
        [sys.executable, "-m", "xm_core", "--root", str(root), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _done(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    HostPaths(root).seed_example()
    grub = root / "boot" / "grub"
    grub.mkdir(parents=True)
    (grub / "menu.lst").write_bytes(b"default 0\n\n" + b"".join(_entry(i) for i in range(RUNS)))
    assert _done(_xm(root, "makepolicy", POLICY)) == (0, "")
    return root


def _module_line_count(menu: bytes) -> dict[str, int]:
    """How many policy module lines each entry has."""
    counts: dict[str, int] = {}
    title = ""
    for line in menu.decode().splitlines():
        if line.startswith("title "):
            title = line[len("title ") :]
            counts[title] = 0
        elif line.strip() == f"module /boot/{POLICY}.bin":
            counts[title] += 1
    return counts


@pytest.mark.slow
def test_concurrent_runs_on_different_entries_keep_every_edit(root: Path) -> None:
    procs = [_xm(root, "cfgbootpolicy", POLICY, f"Xen {i:02d} /") for i in range(RUNS)]
    outcomes = [_done(p) for p in procs]
    assert outcomes == [(0, "")] * RUNS
    menu = (root / "boot" / "grub" / "menu.lst").read_bytes()
    assert _module_line_count(menu) == {f"Xen {i:02d} / Linux": 1 for i in range(RUNS)}
    leftovers = [p.name for p in (root / "boot").rglob(".*") if not p.name.endswith(".lock")]
    assert leftovers == []


def _killed_at(root: Path, where: str) -> None:
    """A run of cfgbootpolicy that dies (no clean-up: os._exit) when it is
    about to rename `where` into place."""
    code = (
        "import os, sys\n"
        "real = os.replace\n"
        "def dying(src, dst):\n"
        f"    if os.path.basename(str(dst)) == {where!r}:\n"
        "        os._exit(9)\n"
        "    real(src, dst)\n"
        "os.replace = dying\n"
        "from xm_core.cli.commands import main\n"
        f"sys.argv = ['xm', '--root', {str(root)!r}, 'cfgbootpolicy', {POLICY!r}, 'Xen 03 /']\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
    died = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True)
    assert died.returncode == 9, died.stderr


def _dot_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "boot").rglob(".*") if not p.name.endswith(".lock"))


@pytest.mark.parametrize("where", ["menu.lst_save", f"{POLICY}.bin", "menu.lst"])
def test_a_killed_run_is_finished_or_cleaned_by_the_next(root: Path, where: str) -> None:
    menu_file = root / "boot" / "grub" / "menu.lst"
    before = menu_file.read_bytes()
    _killed_at(root, where)
    after_kill = menu_file.read_bytes()
    assert after_kill == before  # the menu is never half-written
    assert _dot_files(root) != []  # the kill left temporaries (or a journal)
    # The next run, on another entry, finishes or drops what the killed one left.
    assert _done(_xm(root, "cfgbootpolicy", POLICY, "Xen 05 /")) == (0, "")
    assert _dot_files(root) == []
    counts = _module_line_count(menu_file.read_bytes())
    assert counts["Xen 05 / Linux"] == 1
    # once its temporaries were complete (the journal written) the edit is finished
    assert counts["Xen 03 / Linux"] == (0 if where == "menu.lst_save" else 1)
