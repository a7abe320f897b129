"""`edge-agent backup` (edge_agent/store/backup.py): an online copy of the school database while the service writes."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading

import pytest
from typer.testing import CliRunner

from edge_agent import protocol as p
from edge_agent.cli import app
from edge_agent.store import school_db
from edge_agent.store.backup import EdgeBackupError, backup_school_db
from edge_agent.sync import outbox as ob

SCHOOL, KEY = "THPT-LDT", os.urandom(32)


def record(conn: sqlite3.Connection, box: ob.Outbox, i: int) -> None:
    payload = p.AttendancePayload(
        student_id=f"{94207000000 + i:012d}", class_code="10A1", date=dt.date(2025, 9, 8),
        session=p.Session.MORNING, period=i % 5 + 1, subject="Toán", status=p.AttendanceStatus.PRESENT,
        source=p.Source(kind=p.SourceKind.CAMERA, camera_id="cam-1"), observed_at=p.utcnow(), confidence=0.7,
        track_id=f"t{i}")
    with conn:
        box.enqueue(p.EventKind.ATTENDANCE_PROPOSED, payload)


def test_online_backup_while_the_service_writes(tmp_path):
    db = tmp_path / "data" / "school.sqlite3"
    school_db.close(school_db.connect(db))                     # the service's schema (migrations)
    writer_conn = school_db.connect(db, implicit_transactions=True)
    box = ob.Outbox(writer_conn, SCHOOL, KEY)
    for i in range(100):
        record(writer_conn, box, i)
    done = threading.Event()

    def keep_writing():
        for i in range(100, 600):
            record(writer_conn, box, i)
        done.set()

    t = threading.Thread(target=keep_writing, daemon=True)
    t.start()
    dest = tmp_path / "backups"
    made = []
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(4):                                         # while the writer commits
        made.append(backup_school_db(db, dest, keep=2, now=start + dt.timedelta(hours=n)))
    t.join(60)
    assert done.is_set()
    kept = sorted(x.name for x in dest.iterdir())
    assert kept == sorted(m[0].name for m in made[2:])         # retention: the 2 newest
    assert made[3][1] == [made[1][0]]
    total = writer_conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    for path, _ in made[2:]:
        assert path.stat().st_mode & 0o777 == 0o600 and dest.stat().st_mode & 0o777 == 0o700
        copy = sqlite3.connect(path)
        try:
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            seqs = [r[0] for r in copy.execute("SELECT seq FROM outbox ORDER BY seq")]
            assert 100 <= len(seqs) <= total
            assert seqs == list(range(1, len(seqs) + 1))      # a consistent snapshot: no gap, nothing torn
            last = copy.execute("SELECT last_seq FROM outbox_state WHERE school = ?", (SCHOOL,)).fetchone()[0]
            assert last == len(seqs)                          # sequence state and rows from the same instant
            assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            applied = [r[0] for r in copy.execute("SELECT id FROM schema_migrations ORDER BY id")]
        finally:
            copy.close()
        live = sqlite3.connect(db)
        assert applied and applied == [r[0] for r in live.execute("SELECT id FROM schema_migrations ORDER BY id")]
        live.close()
    writer_conn.close()
    assert not list(dest.glob(".*partial"))


def test_backup_refuses_a_missing_database(tmp_path):
    with pytest.raises(EdgeBackupError, match="no school database"):
        backup_school_db(tmp_path / "nothing.sqlite3", tmp_path / "b")
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_edge_agent_backup_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = tmp_path / "edge.toml"
    assert runner.invoke(app, ["init", "--school", SCHOOL, "--out", str(out), "--data-dir", "var/edge"]).exit_code == 0
    missing = runner.invoke(app, ["backup", "--config", str(out)])
    assert missing.exit_code == 1 and "Lỗi: sao lưu thất bại" in missing.output
    school_db.close(school_db.connect(tmp_path / "var" / "edge" / "school.sqlite3"))
    r = runner.invoke(app, ["backup", "--config", str(out), "--keep", "3"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "var" / "edge" / "backups").glob("school-*.sqlite3"))) == 1
