"""Backups of the central database and their restore, encrypted at rest, with retention.

- PostgreSQL: ``pg_dump -Fc`` (one consistent snapshot while the server keeps writing) streamed through the
  encryptor; restore with ``pg_restore --single-transaction --exit-on-error`` fed from the decryptor (no
  plaintext file on disk; a damaged or truncated backup restores nothing).
- SQLite: the online backup API (`sqlite3.Connection.backup`) into memory, serialised and encrypted; restore
  deserialises, checks `PRAGMA integrity_check` and writes a new file that replaces the target atomically.

Files: ``<dir>/central-<UTC time>.<pgdump|sqlite>[.enc]``, mode 0600 in a 0700 directory, written under a
temporary name and renamed when complete. `keep` newest backups are kept, older ones deleted.
Settings: `BackupSettings` (environment prefix ``CENTRAL_BACKUP_``). Without a key the backup is refused when
``CENTRAL_ENVIRONMENT=production``; elsewhere it is written unencrypted (0600) and says so.
Restore only into an empty database (a fresh PostgreSQL database, or a SQLite path with no data), unless forced
for SQLite.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psycopg
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from central_server.core.backup_crypto import (
    MAGIC,
    BackupCryptoError,
    EncryptingWriter,
    decrypt_chunks,
    is_encrypted,
    parse_key,
)

NAME_RE = re.compile(r"^central-(\d{8}T\d{6}\d{6}Z)\.(pgdump|sqlite)(\.enc)?$")


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_BACKUP_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    dir: Path = Path("var/backups")
    key: SecretStr | None = None            # 64 hex digits or URL-safe base64 of 32 bytes
    keep: int = Field(default=14, ge=1)     # newest backups kept (daily timer: two weeks)
    environment: str = Field(default="development",
                             validation_alias=AliasChoices("CENTRAL_ENVIRONMENT", "environment"))
    pg_dump: str = "pg_dump"
    pg_restore: str = "pg_restore"

    def key_bytes(self) -> bytes | None:
        if self.key is None or not self.key.get_secret_value().strip():
            if self.environment == "production":
                raise BackupError("CENTRAL_BACKUP_KEY is required in production: backups are encrypted at rest")
            return None
        return parse_key(self.key.get_secret_value())


class BackupError(RuntimeError):
    """A backup or restore that did not happen; the message says why (nothing half-written is left)."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    kind: str          # pgdump | sqlite
    encrypted: bool
    size: int
    deleted: tuple[Path, ...] = ()


class _PlainWriter:
    def __init__(self, dst: BinaryIO):
        self._dst = dst

    def write(self, data: bytes) -> None:
        self._dst.write(data)

    def close(self) -> None:
        pass


def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        return "pgdump"
    if backend == "sqlite":
        return "sqlite"
    raise BackupError(f"unsupported database {backend!r}")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password (which goes into PGPASSWORD, not the process list)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sqlite_path(url: str) -> Path:
    db = make_url(url).database
    if not db or db == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(db).expanduser()


def backup(url: str, settings: BackupSettings | None = None, *, now: dt.datetime | None = None) -> BackupInfo:
    """Back up the database at `url` into `settings.dir`, then apply the retention."""
    s = settings or BackupSettings()
    key = s.key_bytes()
    kind = _kind(url)
    s.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(s.dir, 0o700)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    final = s.dir / f"central-{stamp}.{kind}{'.enc' if key else ''}"
    partial = final.with_name(final.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            writer = EncryptingWriter(out, key) if key else _PlainWriter(out)
            if kind == "pgdump":
                _dump_postgres(url, s, writer)
            else:
                _dump_sqlite(url, writer)
            writer.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    deleted = prune(s.dir, s.keep)
    return BackupInfo(final, kind, key is not None, final.stat().st_size, tuple(deleted))


def _dump_postgres(url: str, s: BackupSettings, writer) -> None:
    if shutil.which(s.pg_dump) is None:
        raise BackupError(f"{s.pg_dump} not found (install postgresql-client of the server's version)")
    uri, env = _libpq(url)
    proc = subprocess.Popen([s.pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--dbname={uri}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(1 << 20):
            writer.write(chunk)
    finally:
        err = proc.stderr.read() if proc.stderr else b""
        rc = proc.wait()
    if rc != 0:
        raise BackupError(f"pg_dump failed ({rc}): {err.decode(errors='replace').strip()[:2000]}")


def _dump_sqlite(url: str, writer) -> None:
    path = _sqlite_path(url)
    if not path.is_file():
        raise BackupError(f"no SQLite database at {path}")
    src = sqlite3.connect(path, timeout=30)
    mem = sqlite3.connect(":memory:")
    try:
        src.backup(mem)  # the online backup API: one consistent copy while other connections keep writing
        data = _rollback_header(mem.serialize())
    finally:
        mem.close()
        src.close()
    for i in range(0, len(data), 1 << 20):
        writer.write(data[i:i + (1 << 20)])


def _rollback_header(data: bytes) -> bytes:
    """Mark a WAL-mode database image as rollback-journal (header bytes 18-19 = 1) so that it can be opened from
    memory; the restored file is switched back to WAL."""
    if len(data) >= 100 and data[18] == 2 and data[19] == 2:
        data = bytearray(data)
        data[18] = data[19] = 1
        data = bytes(data)
    return data


def _chunks(path: Path, key: bytes | None, f: BinaryIO):
    head = f.read(len(MAGIC))
    if is_encrypted(head):
        if key is None:
            raise BackupError(f"{path.name} is encrypted: set CENTRAL_BACKUP_KEY")
        f.seek(0)
        yield from decrypt_chunks(f, key)
        return
    yield head
    while chunk := f.read(1 << 20):
        yield chunk


def restore(path: Path, url: str, settings: BackupSettings | None = None, *, force: bool = False) -> str:
    """Restore the backup at `path` into the EMPTY database at `url`; returns the kind restored."""
    s = settings or BackupSettings()
    key = None if s.key is None else parse_key(s.key.get_secret_value())
    path = Path(path)
    m = NAME_RE.match(path.name)
    kind = m.group(2) if m else None
    if kind is None:
        raise BackupError(f"{path.name} is not a central-server backup file (central-<time>.<pgdump|sqlite>[.enc])")
    if kind != _kind(url):
        raise BackupError(f"{path.name} is a {kind} backup; it cannot be restored into {_kind(url)}")
    try:
        with open(path, "rb") as f:
            if kind == "pgdump":
                _restore_postgres(_chunks(path, key, f), url, s)
            else:
                _restore_sqlite(b"".join(_chunks(path, key, f)), url, force)
    except BackupCryptoError as exc:
        raise BackupError(f"{path.name}: {exc}") from None
    return kind


def _restore_postgres(chunks, url: str, s: BackupSettings) -> None:
    uri, env = _libpq(url)
    with psycopg.connect(uri, password=env.get("PGPASSWORD")) as conn:
        n = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchone()[0]
    if n:
        raise BackupError(f"the target database has {n} tables: restore into a fresh, empty database")
    if shutil.which(s.pg_restore) is None:
        raise BackupError(f"{s.pg_restore} not found (install postgresql-client of the server's version)")
    proc = subprocess.Popen([s.pg_restore, "--no-owner", "--no-privileges", "--single-transaction",
                             "--exit-on-error", f"--dbname={uri}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    try:
        for chunk in chunks:
            proc.stdin.write(chunk)
    except BaseException:
        proc.kill()  # before EOF: the single transaction is never committed
        proc.wait()
        raise
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed ({proc.returncode}): {err.decode(errors='replace').strip()[:2000]}")


def _restore_sqlite(data: bytes, url: str, force: bool) -> None:
    target = _sqlite_path(url)
    if target.exists() and target.stat().st_size > 0 and not force:
        raise BackupError(f"{target} exists: restore into a new path (or --force to replace it)")
    mem = sqlite3.connect(":memory:")
    try:
        try:
            mem.deserialize(data)
            ok = mem.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"the backup is not a valid SQLite database: {exc}") from None
        if ok != "ok":
            raise BackupError(f"the backup fails the integrity check: {ok}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".restoring")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dst = sqlite3.connect(tmp)
        try:
            mem.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        mem.close()
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(tmp, target)


def list_backups(directory: Path) -> list[Path]:
    """Backups in `directory`, oldest first (by the time in their name)."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_file() and NAME_RE.match(p.name)]
    return sorted(found, key=lambda p: NAME_RE.match(p.name).group(1))


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest backups; returns the deleted paths."""
    old = list_backups(directory)[:-keep] if keep > 0 else []
    for p in old:
        p.unlink(missing_ok=True)
    return old
