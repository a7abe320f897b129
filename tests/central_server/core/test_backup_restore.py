"""`central-server backup` / `restore` (core/backup.py) on SQLite and PostgreSQL: encrypted at rest, a damaged
or foreign backup restores nothing, production refuses to back up without a key, retention keeps the newest.
The full drill with ingest writing during the backup is tests/sync/test_backup_drill.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from central_server.cli import app as cli
from central_server.core.backup import BackupError, BackupSettings, backup, list_backups, restore
from central_server.core.db import make_engine
from central_server.core.migrate import upgrade

KEY = "ab" * 32


@contextlib.contextmanager
def fresh_database(like_url: str, tmp_path, name: str = "restored"):
    u = make_url(like_url)
    if u.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / (name + '.sqlite3')}"
        return
    db = f"r_{uuid.uuid4().hex[:12]}"
    admin = f"host={u.host} port={u.port} user={u.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield u.set(database=db).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def seeded(db_url: str) -> list[tuple]:
    """Migrate and add users; return them as stored."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for i in range(25):
                conn.execute(text("INSERT INTO users (username, full_name, password_hash, role, is_active, "
                                  "failed_logins, created_at) VALUES (:u, :f, 'x', 'teacher', true, 0, :t)"),
                             {"u": f"gv{i:02d}", "f": f"Nguyễn Văn Bí Mật {i}", "t": dt.datetime.now(dt.UTC)})
        with engine.connect() as conn:
            return conn.execute(text("SELECT username, full_name FROM users ORDER BY username")).all()
    finally:
        engine.dispose()


def heads_of(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def tables_of(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def settings_for(tmp_path, **kw) -> BackupSettings:
    return BackupSettings(_env_file=None, **({"dir": tmp_path / "backups", "key": KEY} | kw))


def test_backup_is_encrypted_and_restores_exactly(db_url, tmp_path):
    users = seeded(db_url)
    info = backup(db_url, settings_for(tmp_path))
    assert info.encrypted and info.path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "backups").stat().st_mode & 0o777 == 0o700
    raw = info.path.read_bytes()
    assert b"gv07" not in raw and "Bí Mật".encode() not in raw and b"SQLite format" not in raw
    with fresh_database(db_url, tmp_path) as target:
        assert restore(info.path, target, settings_for(tmp_path)) == info.kind
        engine = make_engine(target)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT username, full_name FROM users ORDER BY username")).all() == users
                heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        finally:
            engine.dispose()
        assert heads == heads_of(db_url) and len(heads) >= 5
        upgrade(target)  # the restored database is at the heads already: nothing to do, nothing fails


@pytest.mark.parametrize("damage", ["wrong_key", "flipped_byte", "truncated", "not_a_backup"])
def test_damaged_or_foreign_backup_restores_nothing(db_url, tmp_path, damage):
    seeded(db_url)
    info = backup(db_url, settings_for(tmp_path))
    settings = settings_for(tmp_path)
    data = bytearray(info.path.read_bytes())
    if damage == "wrong_key":
        settings = settings_for(tmp_path, key="cd" * 32)
    elif damage == "flipped_byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncated":
        data = data[: len(data) - 200]
    else:
        data = bytearray(b"PGDMP not really" * 100)
    info.path.write_bytes(bytes(data))
    with fresh_database(db_url, tmp_path) as target:
        with pytest.raises(BackupError) as exc:
            restore(info.path, target, settings)
        expected = {"wrong_key": "another key", "flipped_byte": "damaged", "truncated": "truncated"}.get(damage)
        if expected:
            assert expected in str(exc.value)
        if make_url(target).get_backend_name() == "sqlite":
            assert not os.path.exists(make_url(target).database)
        else:
            assert tables_of(target) == set()  # the single transaction never committed


def test_restore_refuses_a_database_that_has_data(db_url, tmp_path):
    seeded(db_url)
    info = backup(db_url, settings_for(tmp_path))
    with pytest.raises(BackupError, match="empty|exists"):
        restore(info.path, db_url, settings_for(tmp_path))


def test_production_refuses_to_back_up_without_a_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    seeded(url)
    with pytest.raises(BackupError, match="CENTRAL_BACKUP_KEY"):
        backup(url, settings_for(tmp_path, key=None, environment="production"))
    assert list_backups(tmp_path / "backups") == [] and not any((tmp_path / "backups").glob("*.partial"))
    plain = backup(url, settings_for(tmp_path, key=None))         # development: allowed, 0600, said so
    assert not plain.encrypted and plain.path.name.endswith(".sqlite")
    with pytest.raises(BackupError, match="sqlite backup"):
        restore(plain.path, "postgresql+psycopg://postgres@127.0.0.1:5432/nothing", settings_for(tmp_path))


def test_retention_keeps_the_newest(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    seeded(url)
    start = dt.datetime(2026, 1, 1, 2, 30, tzinfo=dt.UTC)
    made = [backup(url, settings_for(tmp_path, keep=3), now=start + dt.timedelta(days=d)) for d in range(5)]
    assert list_backups(tmp_path / "backups") == [m.path for m in made[2:]]
    assert set(made[-1].deleted) == {made[1].path}


def test_cli_backup_then_restore(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    users = seeded(url)
    monkeypatch.setenv("CENTRAL_BACKUP_KEY", KEY)
    monkeypatch.setenv("CENTRAL_BACKUP_DIR", str(tmp_path / "bk"))
    runner = CliRunner()
    r = runner.invoke(cli, ["backup", "--url", url, "--keep", "2"])
    assert r.exit_code == 0, r.output
    assert "mã hóa" in r.output
    target = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    r = runner.invoke(cli, ["restore", "--url", target])          # the newest backup in CENTRAL_BACKUP_DIR
    assert r.exit_code == 0, r.output
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT username, full_name FROM users ORDER BY username")).all() == users
    finally:
        engine.dispose()
    r = runner.invoke(cli, ["restore", "--url", target])          # not into a database that has data
    assert r.exit_code == 1 and "Khôi phục thất bại" in r.output
    monkeypatch.setenv("CENTRAL_ENVIRONMENT", "production")
    monkeypatch.delenv("CENTRAL_BACKUP_KEY")
    r = runner.invoke(cli, ["backup", "--url", url])
    assert r.exit_code == 1 and "CENTRAL_BACKUP_KEY" in r.output
