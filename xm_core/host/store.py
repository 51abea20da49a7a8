"""The host state store: one SQLite database under the host root.

It keeps what Xen's ACM kept in the hypervisor: the active policy (its
state and its loaded binary), the domains with their ssidrefs, their device
connections, the Chinese Wall counters, the STE decision cache and its
statistics, and the ACM's messages (`xm dmesg`) and the `xm` log; and,
as a guest has none here, each domain's console log (`xm console`).

Concurrency: the database runs in WAL mode (readers never block the
writer). Every change is made inside `Store.write()`, which begins with
`BEGIN IMMEDIATE`: the write lock is taken *before* anything is read, and
a second `xm` process waits for it (busy timeout) instead of failing. A
decision and the change it permits therefore happen under one lock, so two
racing creates of conflicting domains can never both succeed.

Schema: `PRAGMA user_version` holds the schema version; `_MIGRATIONS[n]`
brings a database from version n to n + 1, inside the write lock. A
database written by a newer version, or one that SQLite cannot read, is
reported as one clear error and never reset.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.numbers import DOMID_MAX

if TYPE_CHECKING:
    from acm.model import BinaryPolicy, PolicyMap

DOM0_ID = 0
DOM0_NAME = "Domain-0"
DOM0_MEMORY = 1024  # MiB
BUSY_TIMEOUT_S = 120.0
MAX_DOMID = 0x7FEF  # DOMID_FIRST_RESERVED - 1 in Xen

# Domain states: one letter each of Xen's `rbpscd` column.
STATE_RUNNING = "running"
STATE_BLOCKED = "blocked"
STATE_PAUSED = "paused"
STATE_SHUTDOWN = "shutdown"
STATE_CRASHED = "crashed"
STATE_DYING = "dying"
DOMAIN_STATES = (
    STATE_RUNNING,
    STATE_BLOCKED,
    STATE_PAUSED,
    STATE_SHUTDOWN,
    STATE_CRASHED,
    STATE_DYING,
)

# Message kinds: the hypervisor's console (`xm dmesg`) and xm's own log (`xm log`).
DMESG = "dmesg"
LOG = "log"


class PolicyState(StrEnum):
    """enforcement.md section 1."""

    NULL = "NULL"  # no ACM at all: labels are not enforced
    DEFAULT = "DEFAULT"  # ACM present, no policy loaded yet (a new host)
    NAMED = "NAMED"  # a policy is loaded and enforced


@dataclass(frozen=True)
class ActivePolicy:
    state: PolicyState
    name: str | None  # the reference name when NAMED
    binary: bytes | None  # the loaded `.bin`, when NAMED
    map: bytes | None  # the `.map` that came with it (names), when NAMED
    generation: int  # incremented on every policy change
    loaded_at: float | None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"conflict_sets": [names]}

    @property
    def reference(self) -> str:
        """The name `xm` shows: the reference name, or `DEFAULT` / `NULL`."""
        if self.state is PolicyState.NAMED:
            assert self.name is not None
            return self.name
        return self.state.value

    @property
    def enforced(self) -> bool:
        return self.state is PolicyState.NAMED


@dataclass
class DomainRecord:
    domid: int
    name: str
    uuid: str
    ssidref: int
    policy: str | None  # the label's policy as the config gave it
    label: str | None  # the label's name as the config gave it
    memory: int  # MiB
    maxmem: int  # MiB
    vcpus: int
    state: str
    created_at: float
    cpu_time: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)  # the config values it came from

    @property
    def is_dom0(self) -> bool:
        return self.domid == DOM0_ID


@dataclass
class DeviceRecord:
    """One split-driver device: frontend in `domid`, backend in `backend`."""

    domid: int
    kind: str  # "vbd" (block) or "vif" (network)
    devid: int
    backend: int  # the backend domain's id
    frontend: str  # `sdb1` for a vbd, `eth0` for a vif
    resource: str | None  # canonical resource (`phy:/dev/hda1`, `bridge:xenbr0`), if any
    written: str  # as the user wrote it (config entry or attach arguments)
    mode: str  # vbd: r / w / w!; vif: ""
    params: dict[str, str] = field(default_factory=dict)  # mac, ip, script, bridge, ...


# The read-only records are NamedTuples: a dataclass costs every command
# that opens the store about 0.5 ms to define, a NamedTuple a third of it.
# The records that commands change in place stay dataclasses.


class SteStats(NamedTuple):
    """Xen's STE hook statistics (acm_ste_stats_buffer)."""

    ec_eval: int = 0
    ec_denied: int = 0
    ec_cachehit: int = 0
    gt_eval: int = 0
    gt_denied: int = 0
    gt_cachehit: int = 0


class Message(NamedTuple):
    seq: int
    at: float
    kind: str
    text: str


class ConsoleLine(NamedTuple):
    """One line of a domain's console log (keyed by the domain's uuid, so
    it survives a reboot's new id and a rename)."""

    seq: int
    at: float
    domid: int
    text: str


class DomainSteStats(NamedTuple):
    """The STE hooks' decisions with this domain as their subject (new: Xen
    counted them for the whole host only)."""

    evaluated: int = 0
    denied: int = 0
    cache_hits: int = 0


class HostFacts(NamedTuple):
    created_at: float
    booted_at: float
    nr_cpus: int
    total_memory: int  # MiB


# ------------------------------------------------------------------ schema

_SCHEMA_V1 = """
CREATE TABLE host (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created_at REAL NOT NULL,
    booted_at REAL NOT NULL,
    nr_cpus INTEGER NOT NULL,
    total_memory INTEGER NOT NULL,
    next_domid INTEGER NOT NULL
);
CREATE TABLE policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL CHECK (state IN ('NULL', 'DEFAULT', 'NAMED')),
    name TEXT,
    binary BLOB,
    map BLOB,
    generation INTEGER NOT NULL,
    loaded_at REAL,
    CHECK ((state = 'NAMED') = (name IS NOT NULL AND binary IS NOT NULL))
);
CREATE TABLE domains (
    domid INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    uuid TEXT NOT NULL,
    ssidref INTEGER NOT NULL,
    policy TEXT,
    label TEXT,
    memory INTEGER NOT NULL,
    maxmem INTEGER NOT NULL,
    vcpus INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    cpu_time REAL NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}'
);
-- who holds an SSID, per half of the ssidref (the denial explanations)
CREATE INDEX domains_low_ssid ON domains ((ssidref & 65535));
CREATE INDEX domains_high_ssid ON domains ((ssidref >> 16));
CREATE TABLE devices (
    domid INTEGER NOT NULL REFERENCES domains (domid) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('vbd', 'vif')),
    devid INTEGER NOT NULL,
    backend INTEGER NOT NULL,
    frontend TEXT NOT NULL,
    resource TEXT,
    written TEXT NOT NULL,
    mode TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (domid, kind, devid)
);
CREATE INDEX devices_backend ON devices (backend);
-- Chinese Wall counters; a missing row is a zero pair
CREATE TABLE chwall_counters (
    type INTEGER PRIMARY KEY,
    running INTEGER NOT NULL CHECK (running >= 0),
    aggregate INTEGER NOT NULL CHECK (aggregate >= 0)
);
-- the STE decision cache: 8 slots per domain, keyed by the remote domain id
CREATE TABLE ste_cache (
    domid INTEGER NOT NULL,
    slot INTEGER NOT NULL CHECK (slot >= 0 AND slot < 8),
    remote INTEGER NOT NULL,
    PRIMARY KEY (domid, slot)
);
CREATE INDEX ste_cache_remote ON ste_cache (remote);
CREATE TABLE ste_stats (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ec_eval INTEGER NOT NULL,
    ec_denied INTEGER NOT NULL,
    ec_cachehit INTEGER NOT NULL,
    gt_eval INTEGER NOT NULL,
    gt_denied INTEGER NOT NULL,
    gt_cachehit INTEGER NOT NULL
);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX messages_kind ON messages (kind, seq);
"""


def _host_memory_mib() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))
    except (ValueError, OSError, AttributeError):
        return 4096


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V1)
    now = time.time()
    conn.execute(
        "INSERT INTO host VALUES (1, ?, ?, ?, ?, 1)",
        (now, now, os.cpu_count() or 1, _host_memory_mib()),
    )
    conn.execute("INSERT INTO policy VALUES (1, 'DEFAULT', NULL, NULL, NULL, 0, NULL)")
    conn.execute("INSERT INTO ste_stats VALUES (1, 0, 0, 0, 0, 0, 0)")
    conn.execute(
        "INSERT INTO domains (domid, name, uuid, ssidref, memory, maxmem, vcpus, state,"
        " created_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
        (
            DOM0_ID,
            DOM0_NAME,
            "00000000-0000-0000-0000-000000000000",
            DOM0_MEMORY,
            DOM0_MEMORY,
            os.cpu_count() or 1,
            STATE_RUNNING,
            now,
        ),
    )


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated DDL inside the open transaction (executescript
    would commit it first)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    for statement in "\n".join(lines).split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    # names that neither the .bin nor the .map carry (the conflict sets' names)
    conn.execute("ALTER TABLE policy ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'")


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    # the loaded policy's type sets and labels in a compact form: a large
    # policy's .bin is mostly zero cells, too slow to decode for every command
    conn.execute("ALTER TABLE policy ADD COLUMN compact TEXT")


_SCHEMA_V4 = """
-- each domain's console log: the host model writes it, as no guest does
CREATE TABLE console (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    domid INTEGER NOT NULL,
    at REAL NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX console_uuid ON console (uuid, seq);
-- the STE hooks' statistics per subject domain (by uuid, kept across a reboot)
CREATE TABLE ste_domain_stats (
    uuid TEXT PRIMARY KEY,
    evaluated INTEGER NOT NULL,
    denied INTEGER NOT NULL,
    cache_hits INTEGER NOT NULL
);
"""


def _migrate_to_4(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V4)


_SCHEMA_V5 = """
-- the config file each domain was created from (absolute), so that a policy
-- update relabels it wherever it is kept, not only under <root>/etc/xen
CREATE TABLE domain_configs (
    domid INTEGER PRIMARY KEY REFERENCES domains (domid) ON DELETE CASCADE,
    path TEXT NOT NULL
);
-- the images `xm save` wrote (absolute paths), so that a policy update
-- relabels them where they are
CREATE TABLE saved_images (
    path TEXT PRIMARY KEY,
    uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    saved_at REAL NOT NULL
);
"""


def _migrate_to_5(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V5)


# _MIGRATIONS[n] takes a database from schema version n to n + 1.
_MIGRATIONS = [_migrate_to_1, _migrate_to_2, _migrate_to_3, _migrate_to_4, _migrate_to_5]
CONSOLE_KEEP = 1000  # lines kept per domain; older ones are dropped as new ones come
SCHEMA_VERSION = len(_MIGRATIONS)


# ------------------------------------------------------------------ errors


class StoreError(XmError):
    """The host state cannot be used (corrupt, too new, unreadable)."""


# SQLite's result codes of a failed write that are no damage of the file.
_SQLITE_FULL, _SQLITE_IOERR, _SQLITE_CANTOPEN = 13, 10, 14


def _corrupt(path: Path, exc: Exception) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreError(f"Host state '{path}' is busy ({exc}); nothing was changed")
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_FULL or "disk is full" in str(exc):
        # The database is intact: its journal keeps the last commit whole.
        return StoreError(
            f"Cannot write the host state '{path}': the disk is full; nothing was changed "
            "(the host state is intact)"
        )
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        return StoreError(
            f"Cannot write the host state '{path}': an I/O error ({exc}); nothing was changed"
        )
    return StoreError(f"Host state '{path}' is unreadable ({exc}); it was left as it is")


def _not_ours(path: Path) -> StoreError:
    return StoreError(
        f"Host state '{path}' is not an xm-acm database; it was left as it is. "
        "Restore it from a backup, or move it away to start a new host."
    )


_SQLITE_HEADER = b"SQLite format 3\0"


def _check_header(path: Path) -> None:
    """An existing file that cannot be our database is reported before SQLite
    sees it: an empty file would otherwise open as a new, empty database."""
    try:  # non-blocking, then fstat: a FIFO in its place must not hang xm
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise StoreError(f"Host state '{path}' cannot be read: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreError(f"Host state '{path}' is not a regular file; left as it is")
        head = os.read(fd, len(_SQLITE_HEADER))
    finally:
        os.close(fd)
    if not head:
        raise StoreError(
            f"Host state '{path}' is empty (0 bytes): the host's domains and counters are "
            "gone. It was left as it is; restore it from a backup, or remove it to start "
            "a new host."
        )
    if head != _SQLITE_HEADER:
        raise StoreError(f"Host state '{path}' is unreadable (not a database); left as it is")


def _remove_dead_creations(path: Path) -> None:
    """Remove the half-made databases of creators that were killed (their
    process id, in the name, is gone)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]{{8}}\.new(?:-wal|-shm)?")
    with contextlib.suppress(OSError):
        for name in os.listdir(path.parent):
            match = pattern.fullmatch(name)
            if match is None:
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    os.unlink(path.parent / name)
            except OSError:
                pass  # alive, someone else's


def _link_new(tmp: Path, path: Path) -> None:
    """Give the new database its name unless another creator was first."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError:
        # A file system without hard links: a rename, when nobody was first
        # (a creator racing in this gap would be replaced, with no domains lost).
        if not os.path.lexists(path):
            os.rename(tmp, path)


def _create(path: Path) -> None:
    """A new host state, made whole under a temporary name and then linked
    into place: nobody ever sees a half-made database under `path`, so an
    existing empty file is damage, not a database being born. When another
    process links its new database first, that one is used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Host state '{path}' does not exist and cannot be created ({exc.strerror})"
        ) from None
    _remove_dead_creations(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.new")
    try:
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for version, migrate in enumerate(_MIGRATIONS, start=1):
                migrate(conn)
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()  # the last close checkpoints and removes the -wal
        _link_new(tmp, path)
    except sqlite3.Error as exc:
        raise StoreError(f"Host state '{path}' cannot be created ({exc})") from None
    except OSError as exc:
        raise StoreError(
            f"Host state '{path}' does not exist and cannot be created ({exc.strerror})"
        ) from None
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _failed(path: Path, exc: sqlite3.Error) -> StoreError:
    """A database error no method turned into a message: the state does not
    hold what this program wrote (or a bug); the change was rolled back."""
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"Host state '{path}' refused a change ({exc}); nothing was changed")
    return _corrupt(path, exc)


# ------------------------------------------------------------------ the store


# Every value read back is checked against what this program writes: a
# database damaged by hand or by a disk (a JSON column that does not parse,
# a text where a number belongs, a missing row) is one StoreError naming
# the table and the row, never a traceback further on.


class Kind(StrEnum):
    INT = "an integer"
    REAL = "a number"
    TEXT = "a text"
    OPT_TEXT = "a text or NULL"
    BLOB = "bytes"
    OPT_BLOB = "bytes or NULL"
    OBJECT = "a JSON object"
    STRINGS = "a JSON object of texts"


def damaged(path: Path, table: str, row: object, why: str) -> StoreError:
    return StoreError(
        f"Host state '{path}' is damaged: table {table}, row {row}: {why}; it was left as it is"
    )


def _fits(value: Any, kind: Kind) -> bool:
    if kind is Kind.INT:
        return type(value) is int
    if kind is Kind.REAL:
        return type(value) in (int, float)
    if kind is Kind.TEXT:
        return type(value) is str
    if kind is Kind.OPT_TEXT:
        return value is None or type(value) is str
    if kind is Kind.BLOB:
        return type(value) is bytes
    return value is None or type(value) is bytes  # OPT_BLOB


def checked(
    path: Path, table: str, key: object, row: sqlite3.Row | None, kinds: dict[str, Kind]
) -> dict[str, Any]:
    """The columns of `row` as `kinds` says they must be (JSON columns
    decoded); StoreError naming the table and the row otherwise."""
    if row is None:
        raise damaged(path, table, key, "missing")
    values: dict[str, Any] = {}
    for column, kind in kinds.items():
        value = row[column]
        if kind in (Kind.OBJECT, Kind.STRINGS):
            try:
                value = json.loads(value) if type(value) is str else None
            except (ValueError, RecursionError):
                value = None
            ok = isinstance(value, dict) and (
                kind is Kind.OBJECT
                or all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            )
        else:
            ok = _fits(value, kind)
        if not ok:
            raise damaged(path, table, key, f"{column} is not {kind.value}")
        values[column] = value
    return values


_DOMAIN_KINDS = {
    "domid": Kind.INT,
    "name": Kind.TEXT,
    "uuid": Kind.TEXT,
    "ssidref": Kind.INT,
    "policy": Kind.OPT_TEXT,
    "label": Kind.OPT_TEXT,
    "memory": Kind.INT,
    "maxmem": Kind.INT,
    "vcpus": Kind.INT,
    "state": Kind.TEXT,
    "created_at": Kind.REAL,
    "cpu_time": Kind.REAL,
    "config": Kind.OBJECT,
}
_DEVICE_KINDS = {
    "domid": Kind.INT,
    "kind": Kind.TEXT,
    "devid": Kind.INT,
    "backend": Kind.INT,
    "frontend": Kind.TEXT,
    "resource": Kind.OPT_TEXT,
    "written": Kind.TEXT,
    "mode": Kind.TEXT,
    "params": Kind.STRINGS,
}


def _domain(path: Path, row: sqlite3.Row) -> DomainRecord:
    values = checked(path, "domains", f"domid {row['domid']!r}", row, _DOMAIN_KINDS)
    if values["state"] not in DOMAIN_STATES:
        raise damaged(path, "domains", f"domid {row['domid']!r}", "state is not a domain state")
    if not 0 <= values["ssidref"] <= 0xFFFFFFFF:
        raise damaged(path, "domains", f"domid {row['domid']!r}", "ssidref is out of range")
    return DomainRecord(**values)


def _text(path: Path, table: str, value: object) -> str:
    """A path column read back: text, or the store is damaged."""
    if type(value) is not str:
        raise damaged(path, table, repr(value), "path is not text")
    return value


def _device(path: Path, row: sqlite3.Row) -> DeviceRecord:
    key = f"({row['domid']!r}, {row['kind']!r}, {row['devid']!r})"
    return DeviceRecord(**checked(path, "devices", key, row, _DEVICE_KINDS))


_DOMAIN_COLUMNS = (
    "domid, name, uuid, ssidref, policy, label, memory, maxmem, vcpus, state, "
    "created_at, cpu_time, config"
)
_DOMAIN_FIELDS = frozenset(
    {"name", "ssidref", "policy", "label", "memory", "maxmem", "vcpus", "state", "cpu_time"}
)


class Store:
    """One open connection to the host state. Use `open_store(paths)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._in_txn = False
        self.read_only = False

    # ---------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> Store:
        """Open the host state at `path`, creating it only where no file of
        that name exists. A file that is there but empty or not a database of
        ours is an error, never replaced. Where it cannot be written (a
        read-only root) it is opened read-only: reads work, writes are refused
        with a message (`Store.write`)."""
        if not os.path.lexists(path):
            _create(path)
        _check_header(path)
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        try:
            if writable:
                target, uri = str(path), False
            else:
                # WAL readers need the -shm file; where the folder is read-only
                # too it cannot be made, and `immutable` reads without it.
                immutable = "" if os.access(path.parent, os.W_OK) else "&immutable=1"
                target, uri = f"{path.absolute().as_uri()}?mode=ro{immutable}", True
            conn = sqlite3.connect(
                target,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as exc:
            raise _corrupt(path, exc) from None
        conn.row_factory = sqlite3.Row
        store = cls(conn, path)
        store.read_only = not writable
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            # Ours are made whole before they get their name (_create); checked
            # before WAL mode rewrites the header of a file that is not ours.
            if store.schema_version() == 0:
                raise _not_ours(path)
            if writable:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"Host state '{path}': cannot switch to WAL mode ({mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            store._upgrade()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _corrupt(path, exc) from None
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _upgrade(self) -> None:
        version = self.schema_version()
        if version == SCHEMA_VERSION:
            self._check_tables()
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"Host state '{self.path}' has schema version {version}; this xm-acm "
                f"knows up to {SCHEMA_VERSION}. It was left as it is."
            )
        with self.write():
            version = self.schema_version()  # another process may have migrated meanwhile
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](self.conn)
                version += 1
                self.conn.execute(f"PRAGMA user_version = {version}")
        self._check_tables()

    def _check_tables(self) -> None:
        names = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
        needed = {"host", "policy", "domains", "devices", "chwall_counters", "ste_stats"}
        if not needed <= names:
            raise StoreError(
                f"Host state '{self.path}' lacks tables {sorted(needed - names)}; "
                "it was left as it is"
            )
        if self.conn.execute("SELECT count(*) FROM policy").fetchone()[0] != 1:
            raise StoreError(f"Host state '{self.path}' has no policy record; left as it is")

    # ---------------------------------------------------------- transactions

    @contextlib.contextmanager
    def write(self) -> Iterator[Store]:
        """One write transaction: `BEGIN IMMEDIATE` takes the write lock first
        (waiting up to the busy timeout), commit on success, roll back on any
        exception. Nested use joins the outer transaction."""
        if self._in_txn:
            yield self
            return
        if self.read_only:
            raise StoreError(
                f"Host state '{self.path}' is read-only here (a read-only root?); this "
                "command needs to change it. Nothing was changed."
            )
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None
        self._in_txn = True
        try:
            yield self
        except BaseException as exc:
            self._in_txn = False
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _failed(self.path, exc) from None
            raise
        self._in_txn = False
        try:
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise _corrupt(self.path, exc) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[Store]:
        """A consistent snapshot for several reads (WAL: never blocks a writer)."""
        if self._in_txn:
            yield self
            return
        try:
            self.conn.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None
        self._in_txn = True
        try:
            yield self
        except sqlite3.Error as exc:
            raise _failed(self.path, exc) from None
        finally:
            self._in_txn = False
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("COMMIT")

    def _q(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, args)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None

    # ---------------------------------------------------------- host

    def host_facts(self) -> HostFacts:
        row = self._q("SELECT * FROM host WHERE id = 1").fetchone()
        kinds = {
            "created_at": Kind.REAL,
            "booted_at": Kind.REAL,
            "nr_cpus": Kind.INT,
            "total_memory": Kind.INT,
        }
        return HostFacts(**checked(self.path, "host", 1, row, kinds))

    # ---------------------------------------------------------- active policy

    def active_policy(self) -> ActivePolicy:
        row = self._q("SELECT * FROM policy WHERE id = 1").fetchone()
        state = self.policy_state()[0]
        kinds = {
            "name": Kind.OPT_TEXT,
            "binary": Kind.OPT_BLOB,
            "map": Kind.OPT_BLOB,
            "generation": Kind.INT,
            "extra": Kind.OBJECT,
        }
        values = checked(self.path, "policy", 1, row, kinds)
        loaded_at = row["loaded_at"]
        if loaded_at is not None and not _fits(loaded_at, Kind.REAL):
            raise damaged(self.path, "policy", 1, "loaded_at is not a number")
        return ActivePolicy(
            state,
            values["name"],
            values["binary"],
            values["map"],
            values["generation"],
            loaded_at,
            values["extra"],
        )

    def policy_state(self) -> tuple[PolicyState, str | None, int]:
        """(state, reference name, generation) without reading the binary."""
        row = self._q("SELECT state, name, generation FROM policy WHERE id = 1").fetchone()
        kinds = {"state": Kind.TEXT, "name": Kind.OPT_TEXT, "generation": Kind.INT}
        values = checked(self.path, "policy", 1, row, kinds)
        try:
            state = PolicyState(values["state"])
        except ValueError:
            raise damaged(self.path, "policy", 1, "state is not a policy state") from None
        if (state is PolicyState.NAMED) != (values["name"] is not None):
            raise damaged(self.path, "policy", 1, "name does not go with the state")
        return state, values["name"], values["generation"]

    def active_policy_name(self) -> str:
        """The reference name of the active policy, or `DEFAULT` / `NULL`."""
        state, name, _ = self.policy_state()
        return name if state is PolicyState.NAMED and name else state.value

    def active_binary(self) -> tuple[bytes, bytes | None] | None:
        """The loaded `.bin` and its `.map`, or None when no policy is loaded."""
        if self.policy_state()[0] is not PolicyState.NAMED:
            return None
        row = self._q("SELECT binary, map FROM policy WHERE id = 1").fetchone()
        values = checked(self.path, "policy", 1, row, {"binary": Kind.BLOB, "map": Kind.OPT_BLOB})
        return values["binary"], values["map"]

    def active_extra(self) -> dict[str, Any]:
        row = self._q("SELECT extra FROM policy WHERE id = 1").fetchone()
        extra: dict[str, Any] = checked(self.path, "policy", 1, row, {"extra": Kind.OBJECT})[
            "extra"
        ]
        return extra

    def active_compact(self) -> str | None:
        """The compact form stored with the active policy (None: decode the binary)."""
        if self.policy_state()[0] is not PolicyState.NAMED:
            return None
        row = self._q("SELECT compact FROM policy WHERE id = 1").fetchone()
        compact: str | None = checked(self.path, "policy", 1, row, {"compact": Kind.OPT_TEXT})[
            "compact"
        ]
        return compact

    def active_compiled(self) -> tuple[BinaryPolicy, PolicyMap | None] | None:
        """The loaded policy decoded: (binary, map or None); None when no
        policy is loaded. A stored binary that no longer decodes is reported."""
        loaded = self.active_binary()
        if loaded is None:
            return None
        from acm.binfmt import decode_binary
        from acm.errors import PolicyError
        from acm.mapfile import parse_map

        binary, map_bytes = loaded
        try:
            policy = decode_binary(binary, "<loaded policy>")
            pmap = parse_map(map_bytes, "<loaded policy map>") if map_bytes is not None else None
        except PolicyError as exc:
            raise StoreError(
                f"Host state '{self.path}': the loaded policy is damaged ({exc}); "
                "it was left as it is"
            ) from None
        return policy, pmap

    def set_active_policy(
        self,
        state: PolicyState,
        name: str | None = None,
        binary: bytes | None = None,
        map_bytes: bytes | None = None,
        extra: dict[str, Any] | None = None,
        compact: str | None = None,
    ) -> int:
        """Replace the active policy (inside `write()`); the new generation.
        `compact` is a derived, quickly read form of binary and map (see
        xm_core.host.model); without it readers decode the binary."""
        self._need_txn()
        if (state is PolicyState.NAMED) != (name is not None and binary is not None):
            raise ValueError("a NAMED policy needs its name and binary, no other state has them")
        self._q(
            "UPDATE policy SET state = ?, name = ?, binary = ?, map = ?, "
            "generation = generation + 1, loaded_at = ?, extra = ?, compact = ? WHERE id = 1",
            (
                state.value,
                name,
                binary,
                map_bytes,
                time.time(),
                json.dumps(extra or {}),
                compact if state is PolicyState.NAMED else None,
            ),
        )
        return self.policy_state()[2]

    def set_active_extra(self, extra: dict[str, Any]) -> None:
        """Replace the active policy's extra record (inside `write()`); the
        policy and its generation stay."""
        self._need_txn()
        self._q("UPDATE policy SET extra = ? WHERE id = 1", (json.dumps(extra),))

    # ---------------------------------------------------------- domains

    def domains(self) -> list[DomainRecord]:
        """Every domain, in id order (Domain-0 first)."""
        return [
            _domain(self.path, r)
            for r in self._q(f"SELECT {_DOMAIN_COLUMNS} FROM domains ORDER BY domid")
        ]

    def domain_count(self) -> int:
        return int(self._q("SELECT count(*) FROM domains").fetchone()[0])

    def find_domain(self, ref: str | int) -> DomainRecord | None:
        """A domain by id (an int, or a string of digits) or by name."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            if not 0 <= int(ref) <= DOMID_MAX:  # no such id, and SQLite holds 64 bits only
                return None
            row = self._q(
                f"SELECT {_DOMAIN_COLUMNS} FROM domains WHERE domid = ?", (int(ref),)
            ).fetchone()
            if row is not None or isinstance(ref, int):
                return _domain(self.path, row) if row is not None else None
        row = self._q(f"SELECT {_DOMAIN_COLUMNS} FROM domains WHERE name = ?", (ref,)).fetchone()
        return _domain(self.path, row) if row is not None else None

    def domain(self, ref: str | int) -> DomainRecord:
        found = self.find_domain(ref)
        if found is None:
            raise XmError(f"Domain '{ref}' does not exist.")
        return found

    def domains_with_ssid(self, half: int, ssids: Iterable[int]) -> list[tuple[int, str]]:
        """(domid, name) of the domains whose ssidref has one of `ssids` in
        its low (`half` 0) or high (`half` 1) 16 bits, in id order."""
        wanted = sorted(set(ssids))
        if not wanted:
            return []
        expr = "(ssidref & 65535)" if half == 0 else "(ssidref >> 16)"
        found: list[tuple[int, str]] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.extend(
                (r[0], r[1])
                for r in self._q(
                    f"SELECT domid, name FROM domains WHERE {expr} IN ({marks})", chunk
                )
            )
        return sorted(found)

    def ssidref_counts(self) -> dict[int, int]:
        """How many domains hold each ssidref (for recomputing counters)."""
        return {
            r[0]: r[1] for r in self._q("SELECT ssidref, count(*) FROM domains GROUP BY ssidref")
        }

    def allocate_domid(self) -> int:
        """The next free domain id (Xen counts up and wraps below its reserved ids)."""
        self._need_txn()
        row = self._q("SELECT next_domid FROM host WHERE id = 1").fetchone()
        start: int = checked(self.path, "host", 1, row, {"next_domid": Kind.INT})["next_domid"]
        if not 1 <= start <= MAX_DOMID:
            raise damaged(self.path, "host", 1, "next_domid is out of range")
        domid = start
        while self._q("SELECT 1 FROM domains WHERE domid = ?", (domid,)).fetchone():
            domid = domid + 1 if domid < MAX_DOMID else 1
            if domid == start:
                raise XmError("No free domain id left.")
        nxt = domid + 1 if domid < MAX_DOMID else 1
        self._q("UPDATE host SET next_domid = ? WHERE id = 1", (nxt,))
        return domid

    def add_domain(
        self,
        name: str,
        ssidref: int,
        memory: int,
        vcpus: int,
        *,
        policy: str | None = None,
        label: str | None = None,
        maxmem: int | None = None,
        state: str = STATE_RUNNING,
        config: dict[str, Any] | None = None,
        uuid: str | None = None,
        domid: int | None = None,
    ) -> DomainRecord:
        """Insert a domain (inside `write()`); XmError when the name is taken."""
        self._need_txn()
        if self.find_domain(name) is not None:
            raise XmError(f"Domain '{name}' already exists.")
        if domid is None:
            domid = self.allocate_domid()
        import uuid as uuidlib  # here: a command that reads the host needs none

        rec = DomainRecord(
            domid=domid,
            name=name,
            uuid=uuid or str(uuidlib.uuid4()),
            ssidref=ssidref,
            policy=policy,
            label=label,
            memory=memory,
            maxmem=maxmem if maxmem is not None else memory,
            vcpus=vcpus,
            state=state,
            created_at=time.time(),
            config=dict(config or {}),
        )
        self._q(
            f"INSERT INTO domains ({_DOMAIN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.domid,
                rec.name,
                rec.uuid,
                rec.ssidref,
                rec.policy,
                rec.label,
                rec.memory,
                rec.maxmem,
                rec.vcpus,
                rec.state,
                rec.created_at,
                rec.cpu_time,
                json.dumps(rec.config, sort_keys=True),
            ),
        )
        return rec

    def update_domain(self, domid: int, **changes: Any) -> None:
        """Change fields of a domain record (inside `write()`)."""
        self._need_txn()
        unknown = set(changes) - _DOMAIN_FIELDS
        if unknown:
            raise ValueError(f"not domain fields: {sorted(unknown)}")
        if not changes:
            return
        sets = ", ".join(f"{k} = ?" for k in changes)
        self._q(f"UPDATE domains SET {sets} WHERE domid = ?", (*changes.values(), domid))

    def domain_by_uuid(self, uuid: str) -> DomainRecord | None:
        row = self._q(f"SELECT {_DOMAIN_COLUMNS} FROM domains WHERE uuid = ?", (uuid,)).fetchone()
        return _domain(self.path, row) if row is not None else None

    def remove_domain(self, domid: int) -> None:
        """Delete a domain, its devices and its STE cache (inside `write()`)."""
        self._need_txn()
        self._q("DELETE FROM devices WHERE domid = ?", (domid,))
        self._q("DELETE FROM ste_cache WHERE domid = ?", (domid,))
        self._q("DELETE FROM domain_configs WHERE domid = ?", (domid,))
        self._q("DELETE FROM domains WHERE domid = ?", (domid,))

    # ---------------------------------------------------------- files a policy update relabels

    def set_domain_config(self, domid: int, path: str) -> None:
        """The config file `domid` was created from (inside `write()`)."""
        self._need_txn()
        self._q("INSERT OR REPLACE INTO domain_configs VALUES (?, ?)", (domid, path))

    def domain_configs(self) -> dict[int, str]:
        """Each domain's config file, where one is known."""
        rows = self._q("SELECT domid, path FROM domain_configs ORDER BY domid").fetchall()
        return {r[0]: _text(self.path, "domain_configs", r[1]) for r in rows}

    def add_saved_image(self, path: str, uuid: str, name: str, saved_at: float) -> None:
        """An image `xm save` writes (inside `write()`); one row per path."""
        self._need_txn()
        self._q(
            "INSERT OR REPLACE INTO saved_images VALUES (?, ?, ?, ?)", (path, uuid, name, saved_at)
        )

    def saved_images(self, limit: int) -> list[str]:
        """The paths of the images `xm save` wrote, at most `limit`, newest first."""
        rows = self._q(
            "SELECT path FROM saved_images ORDER BY saved_at DESC, path LIMIT ?", (limit,)
        ).fetchall()
        return [_text(self.path, "saved_images", r[0]) for r in rows]

    def forget_saved_images(self, paths: Iterable[str]) -> None:
        """Images no longer there (inside `write()`)."""
        self._need_txn()
        for path in paths:
            self._q("DELETE FROM saved_images WHERE path = ?", (path,))

    # ---------------------------------------------------------- devices

    def devices(self, domid: int | None = None, kind: str | None = None) -> list[DeviceRecord]:
        sql = "SELECT * FROM devices"
        where: list[str] = []
        args: list[Any] = []
        if domid is not None:
            where.append("domid = ?")
            args.append(domid)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY domid, kind, devid"
        return [_device(self.path, r) for r in self._q(sql, args)]

    def device_counts(self) -> dict[tuple[int, str], int]:
        """How many devices of each kind each domain has ((domid, kind) -> n)."""
        return {
            (r[0], r[1]): r[2]
            for r in self._q("SELECT domid, kind, count(*) FROM devices GROUP BY domid, kind")
        }

    def devices_backed_by(self, backend: int) -> list[DeviceRecord]:
        return [
            _device(self.path, r)
            for r in self._q(
                "SELECT * FROM devices WHERE backend = ? ORDER BY domid, kind, devid", (backend,)
            )
        ]

    def add_device(self, dev: DeviceRecord) -> None:
        self._need_txn()
        try:
            self._q(
                "INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    dev.domid,
                    dev.kind,
                    dev.devid,
                    dev.backend,
                    dev.frontend,
                    dev.resource,
                    dev.written,
                    dev.mode,
                    json.dumps(dev.params, sort_keys=True),
                ),
            )
        except sqlite3.IntegrityError:
            raise XmError(f"Device {dev.devid} ({dev.kind}) already connected.") from None

    def remove_device(self, domid: int, kind: str, devid: int) -> bool:
        self._need_txn()
        cur = self._q(
            "DELETE FROM devices WHERE domid = ? AND kind = ? AND devid = ?", (domid, kind, devid)
        )
        return cur.rowcount > 0

    def move_devices(self, old: int, new: int) -> None:
        """A domain got a new id (reboot): its devices and its backends follow."""
        self._need_txn()
        self._q("UPDATE devices SET domid = ? WHERE domid = ?", (new, old))
        self._q("UPDATE devices SET backend = ? WHERE backend = ?", (new, old))

    # ---------------------------------------------------------- Chinese Wall counters

    def chwall_counters(self, max_types: int) -> tuple[list[int], list[int]]:
        """(running_types, conflict_aggregate), one entry per CHWALL type."""
        running = [0] * max_types
        aggregate = [0] * max_types
        for row in self._q("SELECT type, running, aggregate FROM chwall_counters"):
            r = self._ints("chwall_counters", row)
            if not 0 <= r[0] < max_types:
                raise StoreError(
                    f"Host state '{self.path}': a Chinese Wall counter for type {r[0]} "
                    f"outside the policy's {max_types} types"
                )
            running[r[0]] = r[1]
            aggregate[r[0]] = r[2]
        return running, aggregate

    def chwall_counters_of(self, types: Iterable[int]) -> dict[int, tuple[int, int]]:
        """(running, aggregate) of just these types (missing: (0, 0))."""
        wanted = sorted(set(types))
        found = {t: (0, 0) for t in wanted}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._q(
                f"SELECT type, running, aggregate FROM chwall_counters WHERE type IN ({marks})",
                chunk,
            ):
                r = self._ints("chwall_counters", row)
                found[r[0]] = (r[1], r[2])
        return found

    def add_chwall_counters(self, deltas: dict[int, tuple[int, int]]) -> None:
        """Add (running, aggregate) deltas per type (inside `write()`). A counter
        that would go below zero is a bug: StoreError, and the transaction is
        rolled back by the caller's `write()`."""
        self._need_txn()
        for t, (dr, da) in deltas.items():
            if not dr and not da:
                continue
            self._q(
                "INSERT INTO chwall_counters VALUES (?, 0, 0) ON CONFLICT (type) DO NOTHING", (t,)
            )
            try:
                self._q(
                    "UPDATE chwall_counters SET running = running + ?, "
                    "aggregate = aggregate + ? WHERE type = ?",
                    (dr, da, t),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"Chinese Wall counter of type {t} would go below zero: the host state "
                    "is inconsistent (a bug); nothing was changed"
                ) from None
        self._q("DELETE FROM chwall_counters WHERE running = 0 AND aggregate = 0")

    def set_chwall_counters(self, running: Sequence[int], aggregate: Sequence[int]) -> None:
        """Replace every counter (a policy load)."""
        self._need_txn()
        self._q("DELETE FROM chwall_counters")
        self.conn.executemany(
            "INSERT INTO chwall_counters VALUES (?, ?, ?)",
            [(t, r, a) for t, (r, a) in enumerate(zip(running, aggregate, strict=True)) if r or a],
        )

    # ---------------------------------------------------------- STE cache and statistics

    def ste_stats(self) -> SteStats:
        row = self._q("SELECT * FROM ste_stats WHERE id = 1").fetchone()
        columns = ("ec_eval", "ec_denied", "ec_cachehit", "gt_eval", "gt_denied", "gt_cachehit")
        return SteStats(**checked(self.path, "ste_stats", 1, row, dict.fromkeys(columns, Kind.INT)))

    def add_ste_stats(self, delta: SteStats) -> None:
        self._need_txn()
        self._q(
            "UPDATE ste_stats SET ec_eval = ec_eval + ?, ec_denied = ec_denied + ?, "
            "ec_cachehit = ec_cachehit + ?, gt_eval = gt_eval + ?, gt_denied = gt_denied + ?, "
            "gt_cachehit = gt_cachehit + ? WHERE id = 1",
            (
                delta.ec_eval,
                delta.ec_denied,
                delta.ec_cachehit,
                delta.gt_eval,
                delta.gt_denied,
                delta.gt_cachehit,
            ),
        )

    def domain_ste_stats(self) -> dict[str, DomainSteStats]:
        """Per subject domain (by uuid): its STE hook decisions."""
        kinds = {
            "uuid": Kind.TEXT,
            "evaluated": Kind.INT,
            "denied": Kind.INT,
            "cache_hits": Kind.INT,
        }
        found: dict[str, DomainSteStats] = {}
        for row in self._q("SELECT uuid, evaluated, denied, cache_hits FROM ste_domain_stats"):
            v = checked(self.path, "ste_domain_stats", repr(row["uuid"]), row, kinds)
            found[v["uuid"]] = DomainSteStats(v["evaluated"], v["denied"], v["cache_hits"])
        return found

    def add_domain_ste_stats(self, uuid: str, delta: DomainSteStats) -> None:
        self._need_txn()
        self._q(
            "INSERT INTO ste_domain_stats VALUES (?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
            "evaluated = evaluated + excluded.evaluated, denied = denied + excluded.denied, "
            "cache_hits = cache_hits + excluded.cache_hits",
            (uuid, delta.evaluated, delta.denied, delta.cache_hits),
        )

    def ste_cache(self, domid: int) -> list[int | None]:
        """The 8 cache slots of a domain: the remote domain id, or None when free."""
        slots: list[int | None] = [None] * 8
        for row in self._q("SELECT slot, remote FROM ste_cache WHERE domid = ?", (domid,)):
            r = self._ints("ste_cache", row)
            if not 0 <= r[0] < len(slots):
                raise damaged(self.path, "ste_cache", f"({domid}, {r[0]})", "slot out of range")
            slots[r[0]] = r[1]
        return slots

    def ste_cache_usage(self) -> dict[int, int]:
        """Filled cache slots per domain id (domains with none are absent)."""
        return {r[0]: r[1] for r in self._q("SELECT domid, count(*) FROM ste_cache GROUP BY domid")}

    def set_ste_cache(self, domid: int, slots: Sequence[int | None]) -> None:
        self._need_txn()
        self._q("DELETE FROM ste_cache WHERE domid = ?", (domid,))
        self.conn.executemany(
            "INSERT INTO ste_cache VALUES (?, ?, ?)",
            [(domid, i, r) for i, r in enumerate(slots) if r is not None],
        )

    def forget_in_ste_caches(self, remote: int) -> None:
        """A domain was destroyed: clear its id from every cache."""
        self._need_txn()
        self._q("DELETE FROM ste_cache WHERE remote = ?", (remote,))

    def clear_ste_caches(self) -> None:
        """A policy change clears all caches."""
        self._need_txn()
        self._q("DELETE FROM ste_cache")

    # ---------------------------------------------------------- messages

    def add_message(self, kind: str, text: str) -> None:
        self._need_txn()
        self._q("INSERT INTO messages (at, kind, text) VALUES (?, ?, ?)", (time.time(), kind, text))

    def messages(self, kind: str) -> list[Message]:
        kinds = {"seq": Kind.INT, "at": Kind.REAL, "kind": Kind.TEXT, "text": Kind.TEXT}
        return [
            Message(**checked(self.path, "messages", f"seq {r['seq']!r}", r, kinds))
            for r in self._q(
                "SELECT seq, at, kind, text FROM messages WHERE kind = ? ORDER BY seq", (kind,)
            )
        ]

    def clear_messages(self, kind: str) -> None:
        self._need_txn()
        self._q("DELETE FROM messages WHERE kind = ?", (kind,))

    # ---------------------------------------------------------- console logs

    def add_console_line(self, uuid: str, domid: int, text: str) -> None:
        """Append to a domain's console log (inside `write()`); only the
        last CONSOLE_KEEP lines of a domain are kept."""
        self._need_txn()
        self._q(
            "INSERT INTO console (uuid, domid, at, text) VALUES (?, ?, ?, ?)",
            (uuid, domid, time.time(), text),
        )
        self._q(
            "DELETE FROM console WHERE uuid = ? AND seq <= (SELECT seq FROM console "
            "WHERE uuid = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (uuid, uuid, CONSOLE_KEEP),
        )

    def move_console(self, old_uuid: str, new_uuid: str) -> None:
        """A domain took another uuid (restore keeps the saved one)."""
        self._need_txn()
        self._q("UPDATE console SET uuid = ? WHERE uuid = ?", (new_uuid, old_uuid))

    def console_lines(self, uuid: str, after: int = 0) -> list[ConsoleLine]:
        """A domain's console lines after sequence number `after`, oldest first."""
        kinds = {"seq": Kind.INT, "at": Kind.REAL, "domid": Kind.INT, "text": Kind.TEXT}
        return [
            ConsoleLine(**checked(self.path, "console", f"seq {r['seq']!r}", r, kinds))
            for r in self._q(
                "SELECT seq, at, domid, text FROM console WHERE uuid = ? AND seq > ? ORDER BY seq",
                (uuid, after),
            )
        ]

    # ---------------------------------------------------------- helpers

    def _ints(self, table: str, row: sqlite3.Row) -> tuple[int, ...]:
        """A row of integers only (counters, cache slots), checked."""
        values = tuple(row)
        if not all(type(v) is int for v in values):
            raise damaged(self.path, table, repr(values[0]), "holds a value that is not an integer")
        return values

    def _need_txn(self) -> None:
        if not self._in_txn:
            raise RuntimeError("a change to the host state must be made inside Store.write()")


def open_store(paths: HostPaths, busy_timeout: float = BUSY_TIMEOUT_S) -> Store:
    """Open (creating when new) the host state at `paths.state_db`."""
    return Store.open(paths.state_db, busy_timeout)
