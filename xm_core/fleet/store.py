"""The fleet inventory: one schema, two backends.

SQLite (a file, the embedded default for one operator's machine) and
PostgreSQL (`postgresql://...`, when several schedulers or operators share
it, through psycopg 3). The SQL is written once, with `?` placeholders
(turned into `%s` for psycopg), in types both understand.

Locking (why row locks): acting on a host means calling that host's own
create or migrate, a change in another database that no rollback of ours
can undo. A serializable transaction that fails after that call would leave
the inventory behind the host; retrying would create twice. So whoever acts
on a host first takes that host's inventory row with `SELECT ... FOR UPDATE`
and keeps it until the inventory row is written again: schedulers working
on different hosts never wait for each other, two on the same host take
turns, and the one that waited re-reads the host's own state before it
decides. Advisory locks would do the same but are not tied to the row and
have no SQLite counterpart; on SQLite `BEGIN IMMEDIATE` takes the one write
lock of the file, which is the same rule with a coarser grain.

A domain name is held the same way, before any host row, by whoever
creates it (`hold_name`): an advisory lock on PostgreSQL, since a name is
not a row until it runs somewhere; the file's write lock on SQLite.

Reading (`snapshot`): what only reads the inventory (hosts, place, audit,
preview-policy, the placement advice before an act) reads in one read-only
transaction that takes no write lock: on SQLite a deferred transaction on
the file in WAL mode (it reads the last commit while a writer holds the
write lock), on PostgreSQL REPEATABLE READ, READ ONLY (one snapshot for all
its statements; plain SELECTs there never waited for row locks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xm_core.errors import UsageError, XmError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0
ENV_STORE = "XM_FLEET_STORE"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_MIGRATION_LOCK = 7_221_021  # pg advisory lock key: one migration at a time
_NAME_LOCKS = 7_221_022  # pg advisory lock class: one creator per domain name

# Version 1. Counters are the host's Chinese Wall counters, as JSON
# {type: [running, aggregate]}; a policy is kept once, by the hash of its
# compiled form, in the host's own compact form (binary and map).
_SCHEMA_V1 = [
    """CREATE TABLE fleet_policies (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT,
        compact TEXT NOT NULL,
        conflict_sets TEXT NOT NULL
    )""",
    """CREATE TABLE fleet_hosts (
        name TEXT PRIMARY KEY,
        root TEXT NOT NULL UNIQUE,
        zone TEXT NOT NULL DEFAULT '',
        policy_state TEXT NOT NULL,
        policy_name TEXT,
        policy_hash TEXT REFERENCES fleet_policies (hash),
        total_memory BIGINT NOT NULL,
        free_memory BIGINT NOT NULL,
        nr_cpus INTEGER NOT NULL,
        counters TEXT NOT NULL,
        revision BIGINT NOT NULL,
        synced_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE fleet_domains (
        host TEXT NOT NULL REFERENCES fleet_hosts (name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        domid INTEGER NOT NULL,
        ssidref BIGINT NOT NULL,
        label TEXT,
        memory BIGINT NOT NULL,
        vcpus INTEGER NOT NULL,
        PRIMARY KEY (host, name)
    )""",
    "CREATE INDEX fleet_domains_name ON fleet_domains (name)",
]
# Version 2: what a new domain can get on the host (free memory and what
# Domain-0 can give by ballooning), beside the free memory `xm info` shows.
_SCHEMA_V2 = [
    "ALTER TABLE fleet_hosts ADD COLUMN available_memory BIGINT NOT NULL DEFAULT 0",
    "UPDATE fleet_hosts SET available_memory = free_memory",  # until the next sync
]
MIGRATIONS: list[list[str]] = [_SCHEMA_V1, _SCHEMA_V2]  # MIGRATIONS[v] takes version v to v + 1


@dataclass(frozen=True)
class PolicyRow:
    hash: str
    name: str
    version: str | None
    compact: str
    conflict_sets: tuple[str | None, ...]


@dataclass(frozen=True)
class DomainRow:
    host: str
    name: str
    domid: int
    ssidref: int
    label: str | None
    memory: int
    vcpus: int


@dataclass
class HostRow:
    name: str
    root: str
    zone: str
    policy_state: str  # NULL | DEFAULT | NAMED
    policy_name: str | None
    policy_hash: str | None
    total_memory: int
    free_memory: int
    nr_cpus: int
    counters: dict[int, tuple[int, int]]
    revision: int
    synced_at: float
    available_memory: int = 0  # free + what Domain-0 can give (the host's make_room)
    domains: list[DomainRow] = field(default_factory=list)
    domain_count: int = 0  # Domain-0 included; known also when `domains` was not read

    @property
    def active_policy(self) -> str:
        return (
            self.policy_name
            if self.policy_state == "NAMED" and self.policy_name
            else (self.policy_state)
        )


def _counters_json(counters: dict[int, tuple[int, int]]) -> str:
    return json.dumps({str(t): [r, a] for t, (r, a) in sorted(counters.items()) if r or a})


def _counters_of(text: str) -> dict[int, tuple[int, int]]:
    return {int(t): (int(v[0]), int(v[1])) for t, v in json.loads(text).items()}


def default_store() -> str:
    base = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(Path.home(), ".local", "share")
    return str(Path(base) / "xm-acm" / "fleet.sqlite")


def store_url(option: str | None) -> str:
    """--store, else XM_FLEET_STORE, else the per-user SQLite file."""
    if option:
        return option
    return os.environ.get(ENV_STORE) or default_store()


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def shown_url(url: str) -> str:
    """The store as messages name it: a PostgreSQL password is never printed."""
    if not is_postgres(url):
        return url
    import re

    url = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    scheme, _, rest = url.partition("://")
    auth, at, where = rest.rpartition("@")
    if at and ":" in auth and "/" not in auth:
        auth = auth.split(":", 1)[0] + ":***"
        return f"{scheme}://{auth}@{where}"
    return url


class FleetStoreError(XmError):
    pass


class FleetStore:
    """One connection to the inventory. `FleetStore.open(url)`."""

    def __init__(self, conn: Any, url: str, postgres: bool) -> None:
        self.conn = conn
        self.url = url
        self.postgres = postgres
        self._txn: str | None = None  # "write" (transaction) or "read" (snapshot)

    # ---------------------------------------------------------- opening

    @classmethod
    def connect(cls, url: str) -> FleetStore:
        if "\0" in url:
            raise UsageError("--store: a store cannot contain a NUL byte")
        if is_postgres(url):
            import psycopg

            try:
                conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise FleetStoreError(
                    f"Fleet store {shown_url(url)}: cannot connect ({first})"
                ) from None
            return cls(conn, url, True)
        path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        if path.is_dir():
            raise FleetStoreError(f"Fleet store '{path}' is a directory")
        try:
            lite = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            lite.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            lite.execute("PRAGMA journal_mode = WAL")
            lite.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise FleetStoreError(f"Fleet store '{path}': {exc}") from None
        return cls(lite, str(path), False)

    @classmethod
    def open(cls, url: str) -> FleetStore:
        """An existing inventory at its current schema version."""
        if not is_postgres(url):
            path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
            if not path.exists():
                raise FleetStoreError(
                    f"No fleet at '{path}': run 'xm fleet init' first (or give --store)"
                )
        store = cls.connect(url)
        try:
            version = store.schema_version()
            if version == 0:
                raise FleetStoreError(
                    f"No fleet in {store.shown}: run 'xm fleet init' first (or give --store)"
                )
            if version > SCHEMA_VERSION:
                raise FleetStoreError(
                    f"Fleet store {store.shown} has schema version {version}; this xm-acm "
                    f"knows up to {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def init(cls, url: str) -> FleetStore:
        """Create (or bring up to date) the inventory; idempotent."""
        if not is_postgres(url):
            path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
        store = cls.connect(url)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def shown(self) -> str:
        return shown_url(self.url) if self.postgres else f"'{self.url}'"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------- schema

    def _has_meta(self) -> bool:
        if self.postgres:
            row = self._q("SELECT to_regclass('fleet_meta') IS NOT NULL").fetchone()
            return bool(row[0])
        row = self._q("SELECT count(*) FROM sqlite_master WHERE name = 'fleet_meta'").fetchone()
        return bool(row[0])

    def schema_version(self) -> int:
        if not self._has_meta():
            return 0
        row = self._q("SELECT value FROM fleet_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Run the migrations this store lacks, in one transaction; two
        schedulers initialising at once take turns (an advisory lock on
        PostgreSQL, the write lock on SQLite). A store already at this
        version is only read (`xm fleet init` again does not wait for a
        running create); whether to migrate is decided again under the lock."""
        with self.snapshot():
            if self.schema_version() == SCHEMA_VERSION:
                return SCHEMA_VERSION
        with self.transaction():
            if self.postgres:
                self._q("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            self._q(
                "CREATE TABLE IF NOT EXISTS fleet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise FleetStoreError(
                    f"Fleet store {self.shown} has schema version {version}; this xm-acm "
                    f"knows up to {SCHEMA_VERSION}"
                )
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    self._q(statement)
                version += 1
            self._q("DELETE FROM fleet_meta WHERE key = 'schema_version'")
            self._q(
                "INSERT INTO fleet_meta (key, value) VALUES ('schema_version', ?)", (str(version),)
            )
        return version

    # ---------------------------------------------------------- transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[FleetStore]:
        """One writing transaction: commit on success, roll back on any
        exception. On SQLite it takes the file's one write lock at once
        (`BEGIN IMMEDIATE`), so that what it read stays true until it
        writes. Nested use joins the outer one; inside a `snapshot` it is
        refused (a read snapshot cannot safely become a writer)."""
        if self._txn == "write":
            yield self
            return
        if self._txn == "read":
            raise RuntimeError("a writing transaction inside a read snapshot")
        self._txn = "write"
        try:
            if self.postgres:
                with self.conn.transaction():
                    yield self
            else:
                self._q("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                    raise
                self._q("COMMIT")
        finally:
            self._txn = None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[FleetStore]:
        """One read-only transaction: every read in it sees the inventory as
        one commit left it, and it takes no write lock, so it answers while
        a writer (a create inside its host's create) holds one. SQLite: a
        deferred transaction (WAL mode: its snapshot is taken at its first
        read and kept until it ends), the connection `query_only` meanwhile
        so that a write in it fails at once. PostgreSQL: REPEATABLE READ,
        READ ONLY (one snapshot, never a serialization failure for a
        reader). Nested in a transaction or snapshot, it joins it."""
        if self._txn is not None:
            yield self
            return
        self._txn = "read"
        try:
            if self.postgres:
                with self.conn.transaction():
                    self._q("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield self
            else:
                try:
                    self._q("PRAGMA query_only = ON")
                    self._q("BEGIN DEFERRED")
                    yield self
                finally:
                    if self.conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self.conn.execute("COMMIT")  # nothing written: ends the read
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("PRAGMA query_only = OFF")
        finally:
            self._txn = None

    def _q(self, sql: str, args: Sequence[Any] = ()) -> Any:
        try:
            if self.postgres:
                return self.conn.execute(sql.replace("?", "%s"), tuple(args))
            return self.conn.execute(sql, tuple(args))
        except sqlite3.Error as exc:
            raise FleetStoreError(f"Fleet store {self.shown}: {exc}") from None
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                text = str(exc).strip().splitlines()
                raise FleetStoreError(
                    f"Fleet store {self.shown}: {text[0] if text else type(exc).__name__}"
                ) from None
            raise

    def hold_name(self, name: str) -> None:
        """Make this transaction the fleet's only creator of domain NAME until
        it ends, so that a check of the name followed by a create cannot
        interleave with another scheduler's. A name is not a row (until it
        runs somewhere), so on PostgreSQL this is an advisory lock on the
        name's hash (two names sharing a hash only take turns); on SQLite
        the transaction already holds the file's one write lock."""
        if self._txn != "write":
            raise RuntimeError("hold_name outside a writing transaction")
        if self.postgres:
            digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
            key = int.from_bytes(digest, "big", signed=True)
            self._q("SELECT pg_advisory_xact_lock(?::integer, ?::integer)", (_NAME_LOCKS, key))

    # ---------------------------------------------------------- policies

    def policies(self) -> dict[str, PolicyRow]:
        rows = self._q("SELECT hash, name, version, compact, conflict_sets FROM fleet_policies")
        return {r[0]: PolicyRow(r[0], r[1], r[2], r[3], tuple(json.loads(r[4]))) for r in rows}

    def policy(self, digest: str) -> PolicyRow | None:
        r = self._q(
            "SELECT hash, name, version, compact, conflict_sets FROM fleet_policies WHERE hash = ?",
            (digest,),
        ).fetchone()
        return None if r is None else PolicyRow(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])))

    def put_policy(self, row: PolicyRow) -> None:
        """Keep a policy once (the same hash is the same compiled policy)."""
        self._q(
            "INSERT INTO fleet_policies (hash, name, version, compact, conflict_sets) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
            (row.hash, row.name, row.version, row.compact, json.dumps(list(row.conflict_sets))),
        )

    # ---------------------------------------------------------- hosts

    _HOST_COLUMNS = (
        "name, root, zone, policy_state, policy_name, policy_hash, total_memory, "
        "free_memory, nr_cpus, counters, revision, synced_at, available_memory"
    )

    @staticmethod
    def _host(r: Sequence[Any]) -> HostRow:
        return HostRow(
            r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]), int(r[8]),
            _counters_of(r[9]), int(r[10]), float(r[11]), int(r[12]),
        )  # fmt: skip

    def hosts(self, with_domains: bool = True) -> list[HostRow]:
        """Every host in name order, with its domains (one query each; rows
        fetched at once: psycopg's row-by-row iteration was a sixth of a
        placement over 1,000 hosts)."""
        hosts = [
            self._host(r)
            for r in self._q(
                f"SELECT {self._HOST_COLUMNS} FROM fleet_hosts ORDER BY name"
            ).fetchall()
        ]
        by_name = {h.name: h for h in hosts}
        counts = self._q("SELECT host, count(*) FROM fleet_domains GROUP BY host").fetchall()
        for name, count in counts:
            if name in by_name:
                by_name[name].domain_count = int(count)
        if with_domains:
            for d in self._q(
                "SELECT host, name, domid, ssidref, label, memory, vcpus FROM fleet_domains "
                "ORDER BY host, domid"
            ).fetchall():
                host = by_name.get(d[0])
                if host is not None:
                    host.domains.append(_domain(d))
        return hosts

    def host(self, name: str, lock: bool = False, skip_locked: bool = False) -> HostRow | None:
        """One host with its domains; `lock`: its row is held until the end of
        the transaction (FOR UPDATE on PostgreSQL; on SQLite the transaction
        already holds the file's write lock). `skip_locked`: None at once when
        another scheduler holds the row (its state is about to change)."""
        suffix = ""
        if lock and self.postgres:
            suffix = " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
        r = self._q(
            f"SELECT {self._HOST_COLUMNS} FROM fleet_hosts WHERE name = ?{suffix}", (name,)
        ).fetchone()
        if r is None:
            return None
        host = self._host(r)
        host.domains = [
            _domain(d)
            for d in self._q(
                "SELECT host, name, domid, ssidref, label, memory, vcpus FROM fleet_domains "
                "WHERE host = ? ORDER BY domid",
                (name,),
            )
        ]
        host.domain_count = len(host.domains)
        return host

    def blockers_of(
        self, hosts: Sequence[str], half: int, ssids: Sequence[int]
    ) -> dict[str, list[DomainRow]]:
        """The domains of these hosts whose ssidref holds one of these
        Chinese Wall SSIDs in its low (`half` 0) or high (1) half. Read
        in the transaction or snapshot the hosts' rows were read in (a
        placement's lazy reads), so that they agree with those rows."""
        if self._txn is None:
            raise RuntimeError("blockers_of outside the hosts' transaction or snapshot")
        found: dict[str, list[DomainRow]] = {h: [] for h in hosts}
        names = list(hosts)
        shift = 16 * half
        wanted = ", ".join(str(int(s)) for s in ssids)
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            for d in self._q(
                "SELECT host, name, domid, ssidref, label, memory, vcpus FROM fleet_domains "
                f"WHERE host IN ({marks}) AND ((ssidref >> {shift}) & 65535) IN ({wanted}) "
                "ORDER BY host, domid",
                chunk,
            ).fetchall():
                found[d[0]].append(_domain(d))
        return found

    def host_by_root(self, root: str) -> str | None:
        r = self._q("SELECT name FROM fleet_hosts WHERE root = ?", (root,)).fetchone()
        return None if r is None else str(r[0])

    def insert_host(self, row: HostRow) -> None:
        self._q(
            f"INSERT INTO fleet_hosts ({self._HOST_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.name, row.root, row.zone, row.policy_state, row.policy_name,
                row.policy_hash, row.total_memory, row.free_memory, row.nr_cpus,
                _counters_json(row.counters), row.revision, row.synced_at,
                row.available_memory,
            ),
        )  # fmt: skip
        self._put_domains(row.name, row.domains)

    def update_host(self, row: HostRow) -> None:
        """Write a host's state as read from the host (its row locked by the
        caller): one more revision, its domains replaced."""
        self._q(
            "UPDATE fleet_hosts SET policy_state = ?, policy_name = ?, policy_hash = ?, "
            "total_memory = ?, free_memory = ?, nr_cpus = ?, counters = ?, "
            "revision = revision + 1, synced_at = ?, available_memory = ? WHERE name = ?",
            (
                row.policy_state, row.policy_name, row.policy_hash, row.total_memory,
                row.free_memory, row.nr_cpus, _counters_json(row.counters), time.time(),
                row.available_memory, row.name,
            ),
        )  # fmt: skip
        self._q("DELETE FROM fleet_domains WHERE host = ?", (row.name,))
        self._put_domains(row.name, row.domains)

    def _put_domains(self, host: str, domains: Sequence[DomainRow]) -> None:
        rows = [(host, d.name, d.domid, d.ssidref, d.label, d.memory, d.vcpus) for d in domains]
        if not rows:
            return
        sql = (
            "INSERT INTO fleet_domains (host, name, domid, ssidref, label, memory, vcpus) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        if self.postgres:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        else:
            self.conn.executemany(sql, rows)

    def remove_host(self, name: str) -> bool:
        self._q("DELETE FROM fleet_domains WHERE host = ?", (name,))
        return bool(self._q("DELETE FROM fleet_hosts WHERE name = ?", (name,)).rowcount)

    def find_domain(self, name: str) -> list[DomainRow]:
        return [
            _domain(d)
            for d in self._q(
                "SELECT host, name, domid, ssidref, label, memory, vcpus FROM fleet_domains "
                "WHERE name = ? ORDER BY host",
                (name,),
            )
        ]


def _domain(d: Sequence[Any]) -> DomainRow:
    return DomainRow(d[0], d[1], int(d[2]), int(d[3]), d[4], int(d[5]), int(d[6]))
