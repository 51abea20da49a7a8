"""Fleet test support: a throwaway PostgreSQL server (Debian's initdb and
pg_ctl in a temporary folder, run as an unprivileged user when the tests
run as root, listening on a unix socket in that folder only), a fresh
database per test, and host roots running the walkthrough's policy."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hosttools import Run, xm_run

FLEET_DATA = Path(__file__).resolve().parent / "data" / "fleet"
POLICY = "fleet.datacenter"
POLICY_XML = FLEET_DATA / "datacenter-security_policy.xml"
POLICY_V2_XML = FLEET_DATA / "datacenter-v2-security_policy.xml"


def _pg_bin(tool: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)
    return found[0] if found else shutil.which(tool)


@dataclass
class PostgresServer:
    folder: Path
    user: str
    run_as: list[str]
    pg_ctl: str

    @property
    def socket_dir(self) -> str:
        return str(self.folder)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql:///{database}?host={self.socket_dir}&user=fleet"

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )


def _unprivileged() -> tuple[list[str], str] | None:
    """How to run the server: as ourselves, or (as root) as `postgres` or
    `nobody` through runuser. None when neither can be had."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    runuser = shutil.which("runuser")
    if runuser is None:
        return None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return [runuser, "-u", user, "--"], user
    return None


def start_postgres() -> PostgresServer:
    """initdb and pg_ctl start; pytest.skip with the reason when PostgreSQL
    cannot be had here."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian package postgresql)")
    how = _unprivileged()
    if how is None:
        pytest.skip("running as root without runuser or an unprivileged user for PostgreSQL")
    run_as, user = how
    folder = Path(tempfile.mkdtemp(prefix="xm-fleet-pg-"))
    if run_as:
        info = pwd.getpwnam(user)
        os.chown(folder, info.pw_uid, info.pw_gid)
    folder.chmod(0o755)
    data = folder / "data"
    init = subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "fleet", "-A", "trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed here: {init.stderr.strip().splitlines()[-1:]}")
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{folder}' "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    start = subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if start.returncode != 0:
        log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {start.stderr.strip()} {log[-500:]}")
    return PostgresServer(folder, user, run_as, pg_ctl)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


def fresh_database(server: PostgresServer) -> str:
    import psycopg

    name = f"fleet_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on the embedded SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "fleet.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres")
    return fresh_database(server)


# ------------------------------------------------------------------ hosts


def make_host(root: Path, memory: int | None = None, cpus: int | None = None) -> Path:
    """A host root running the walkthrough's policy; `memory` (MiB) and
    `cpus` set the machine's size (the host model reads them from this
    machine otherwise)."""
    target = root / "etc" / "xen" / "acm-security" / "policies" / "fleet"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POLICY_XML, target / "datacenter-security_policy.xml")
    assert xm_run(root, "makepolicy", POLICY).code == 0
    assert xm_run(root, "loadpolicy", POLICY).code == 0
    if memory is not None or cpus is not None:
        _size(root, memory, cpus)
    return root


def _size(root: Path, memory: int | None, cpus: int | None) -> None:
    """The machine's size in the host's record (the host model takes it from
    this machine otherwise)."""
    from xm_core.files.paths import HostPaths

    db = sqlite3.connect(str(HostPaths(root).state_db))
    try:
        if memory is not None:
            db.execute("UPDATE host SET total_memory = ?", (memory,))
        if cpus is not None:
            db.execute("UPDATE host SET nr_cpus = ?", (cpus,))
        db.commit()
    finally:
        db.close()


def clone_host(
    source: Path, root: Path, memory: int | None = None, cpus: int | None = None
) -> Path:
    """Another host like `source` (a copy of its root, made while no domain
    runs there), sized anew."""
    shutil.copytree(source, root)
    if memory is not None or cpus is not None:
        _size(root, memory, cpus)
    return root


def config(folder: Path, name: str, label: str | None, memory: int = 256, vcpus: int = 1) -> Path:
    path = folder / f"{name}.cfg"
    lines = [f'name = "{name}"', f"memory = {memory}", f"vcpus = {vcpus}"]
    if label is not None:
        lines.append(f'access_control = ["policy={POLICY},label={label}"]')
    path.write_text("\n".join(lines) + "\n")
    return path


def fleet_run(store: str, *args: str) -> Run:
    """Type `xm fleet --store STORE ARGS...`."""
    return xm_run(Path("/nonexistent-root"), "fleet", "--store", store, *args)


TWO_ZONES = {"h1": "a", "h2": "b"}  # host: zone


def two_zone_inventory(store_url: str, folder: Path) -> None:
    """An inventory with h1 (4 GiB, 4 CPUs) in zone a and its clone h2 in
    zone b, their roots in `folder`: a scheduler that prefers zone a picks
    h1, one that prefers b picks h2."""
    assert fleet_run(store_url, "init").code == 0
    first = make_host(folder / "h1", memory=4096, cpus=4)
    clone_host(first, folder / "h2")
    for name, zone in TWO_ZONES.items():
        run = fleet_run(store_url, "add-host", name, str(folder / name), "--zone", zone)
        assert run.code == 0, run.err


# ------------------------------------------------------------------ processes


def xm_fleet_process(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`xm fleet --store STORE ARGS...` typed in a process of its own. The
    timeout only stops a hang: a reader that waited for the write lock
    fails on its own (the store's busy timeout) with 'database is locked'."""
    return subprocess.run(
        [sys.executable, "-m", "xm_core", "fleet", "--store", store, *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_lock_is_held(store: str) -> bool:
    """Whether another writer would have to wait now: SQLite's write lock
    (BEGIN IMMEDIATE, not waiting), or h1's row (FOR UPDATE NOWAIT)."""
    if not store.startswith("postgresql://"):
        probe = sqlite3.connect(store, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            probe.close()
    import psycopg

    with psycopg.connect(store, autocommit=True) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT name FROM fleet_hosts WHERE name = 'h1' FOR UPDATE NOWAIT")
            return False
        except psycopg.errors.LockNotAvailable:
            return True
