"""The school's SQLite database: connection settings (WAL, foreign keys), transactions and versioned migrations.

Migrations are the modules `edge_agent/store/migrations/mNNNN_<name>.py`, applied once each, in order of their number,
and recorded in `schema_migrations`. A module defines `SQL` (a script) and/or `upgrade(conn)`. Other parts of the
project extend the schema by adding a file there (e.g. `m0100_templates.py`), never by editing an applied one.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import edge_agent.store.migrations as _migrations_pkg

_NAME = re.compile(r"^m(\d{4})_([a-z0-9_]+)$")


class SchoolDbError(RuntimeError):
    """A problem with the school database that the operator must act on."""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    module: ModuleType

    @property
    def id(self) -> str:
        return f"{self.number:04d}_{self.name}"


def migrations() -> list[Migration]:
    """Every migration module in `edge_agent/store/migrations/`, ordered by number; duplicate numbers are refused."""
    found: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(_migrations_pkg.__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        number = int(match.group(1))
        if number in found:
            raise SchoolDbError(f"two migrations numbered {number:04d}: {found[number].name} and {match.group(2)}")
        module = importlib.import_module(f"{_migrations_pkg.__name__}.{info.name}")
        found[number] = Migration(number, match.group(2), module)
    return [found[n] for n in sorted(found)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path: str | Path, *, migrate_schema: bool = True, implicit_transactions: bool = False
            ) -> sqlite3.Connection:
    """Open the school database (created if missing) in WAL mode with foreign keys, every commit on disk
    (synchronous=FULL, which the outbox needs), and bring its schema up to date. The one way to open it.

    By default the connection is in autocommit mode: group changes with `transaction(conn)`. With
    `implicit_transactions` (the MQTT publisher's connection) the first write opens a BEGIN IMMEDIATE
    transaction that `with conn:` commits (a deferred transaction that reads first and then writes can fail
    with "database is locked" in WAL mode without waiting for the busy timeout).
    """
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    restrict_files(path)
    conn = sqlite3.connect(path, isolation_level="IMMEDIATE" if implicit_transactions else None, timeout=30,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")   # the outbox needs every commit on disk
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    if migrate_schema:
        migrate(conn)
    return conn


def restrict_files(path: Path) -> None:
    """Names, personal ids, thumbnails and PIN hashes of minors: the database file and its -wal/-shm are
    created (or narrowed to) mode 0600 before SQLite opens them; SQLite gives -wal/-shm the main file's mode."""
    if path.as_posix() == ":memory:":
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


def close(conn: sqlite3.Connection) -> None:
    """Close cleanly: fold the WAL back into the main file so the database is one consistent file at rest."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: nothing half-written is left behind."""
    if conn.in_transaction:
        raise SchoolDbError("nested transaction: the caller already holds one")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def applied(conn: sqlite3.Connection) -> list[str]:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    return [r[0] for r in conn.execute("SELECT id FROM schema_migrations ORDER BY id")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet applied, each in its own transaction; returns the ids applied now."""
    done = set(applied(conn))
    ran = []
    for mig in migrations():
        if mig.id in done:
            continue
        with transaction(conn):
            if conn.execute("SELECT 1 FROM schema_migrations WHERE id = ?", (mig.id,)).fetchone():
                continue  # another connection applied it meanwhile
            sql = getattr(mig.module, "SQL", None)
            if sql:
                for statement in _split(sql):
                    conn.execute(statement)
            upgrade = getattr(mig.module, "upgrade", None)
            if upgrade is not None:
                upgrade(conn)
            conn.execute("INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)", (mig.id, now_iso()))
        ran.append(mig.id)
    return ran


def _split(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit our transaction)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise SchoolDbError(f"incomplete SQL statement in migration: {buf.strip()[:80]}")
    return statements


def audit(conn: sqlite3.Connection, actor: str, action: str, target: str, detail: str = "") -> None:
    """Append to the audit log (inside the caller's transaction)."""
    conn.execute("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                 (now_iso(), actor, action, target, detail))
