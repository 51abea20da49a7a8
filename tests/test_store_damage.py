"""A readable host.sqlite holding damaged values (a JSON column that does
not parse, a text where a number belongs, a missing row, a blob where text
belongs): every command reading it ends in one line naming the table and
the row, exit 1, no traceback; and the file is left as it is."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hosttools import loaded_host
from xm_core.files.paths import HostPaths

# (what is damaged, the SQL that damages it, a command that reads it, the line's naming)
DAMAGE = [
    (
        "domain config JSON",
        "UPDATE domains SET config = '{not json' WHERE name = 'bank'",
        ["list"],
        "table domains, row domid 1: config is not a JSON object",
    ),
    (
        "domain memory type",
        "UPDATE domains SET memory = 'lots' WHERE name = 'bank'",
        ["list"],
        "table domains, row domid 1: memory is not an integer",
    ),
    (
        "domain state",
        "UPDATE domains SET state = 'flying' WHERE name = 'bank'",
        ["list"],
        "table domains, row domid 1: state is not a domain state",
    ),
    (
        "device params",
        "UPDATE devices SET params = '[1, 2]'",
        ["block-list", "bank"],
        "table devices, row (1, 'vbd',",
    ),
    ("missing host row", "DELETE FROM host", ["info"], "table host, row 1: missing"),
    (
        "dmesg text",
        "INSERT INTO messages (at, kind, text) VALUES (1.0, 'dmesg', x'00ff')",
        ["dmesg"],
        "table messages, row seq",
    ),
    (
        "policy extra JSON",
        "UPDATE policy SET extra = '[]'",
        ["list", "--label"],
        "table policy, row 1: extra is not a JSON object",
    ),
    (
        "policy generation type",
        "UPDATE policy SET generation = 'x'",
        ["list"],
        "table policy, row 1: generation is not an integer",
    ),
]


def _xm(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
    return subprocess.run(
        [sys.executable, "-m", "xm_core", "--root", str(root), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("what", "sql", "command", "naming"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_value_is_one_line_naming_table_and_row(
    tmp_path: Path, what: str, sql: str, command: list[str], naming: str
) -> None:
    paths = loaded_host(tmp_path / "host")
    assert _xm(paths.root, "create", "bank").returncode == 0
    with sqlite3.connect(paths.state_db) as conn:
        conn.execute(sql)
    conn.close()
    digest = hashlib.sha256(Path(paths.state_db).read_bytes()).hexdigest()
    done = _xm(paths.root, *command)
    assert done.returncode == 1, (what, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert f"Host state '{HostPaths(paths.root).state_db}' is damaged: {naming}" in lines[0]
    assert lines[0].endswith("it was left as it is")
    assert hashlib.sha256(Path(paths.state_db).read_bytes()).hexdigest() == digest


# ------------------------------------------------------------------ a full disk


def test_a_full_disk_names_the_database_and_does_not_call_it_damaged(tmp_path: Path) -> None:
    """SQLite's "database or disk is full" is no damage: the last commit is
    whole. The error says the disk is full, names the file, and the state
    reads as before."""
    from xm_core.host.store import StoreError, open_store

    paths = loaded_host(tmp_path / "host")
    with open_store(paths) as store:
        before = [d.name for d in store.domains()]
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk fills up now
        with pytest.raises(StoreError) as info, store.write():
            for _ in range(2000):
                store.add_message("log", "x" * 1000)
    assert info.value.message == (
        f"Cannot write the host state '{paths.state_db}': the disk is full; nothing was "
        "changed (the host state is intact)"
    )
    with open_store(paths) as store:
        assert [d.name for d in store.domains()] == before


def test_a_full_disk_while_saving_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fsync of the image fails with ENOSPC and no file name: the error
    names the file the user asked for; the domain keeps running."""
    import errno

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the file being synced")

    from xm_core.host.lifecycle import save_domain

    paths = loaded_host(tmp_path / "host")
    assert _xm(paths.root, "create", "bank").returncode == 0
    target = tmp_path / "bank.save"

    real = os.fsync

    def full(fd: int) -> None:  # the image's temporary fills the disk
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(".bank.save."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        save_domain(paths, "bank", str(target))
    assert info.value.filename == str(target)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert not target.exists()
    assert "bank" in _xm(paths.root, "list").stdout
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".bank.save")] == []
    assert list(paths.intents_dir.iterdir()) == []
