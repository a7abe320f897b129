"""The school database: WAL + foreign keys, versioned migrations applied once, master-data constraints."""

from __future__ import annotations

import sqlite3

import pytest

from edge_agent.store import school_db


def test_migrations_are_applied_once_in_order(tmp_path):
    conn = school_db.connect(tmp_path / "s.sqlite3")
    ids = school_db.applied(conn)
    assert ids[:3] == ["0001_core", "0002_attendance", "0003_thumbnails"]
    assert [m.id for m in school_db.migrations()] == ids
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    school_db.close(conn)
    conn = school_db.connect(tmp_path / "s.sqlite3")
    assert school_db.migrate(conn) == [], "re-opening applies nothing twice"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"students", "classes", "teachers", "consents", "audit_log", "timetable", "lessons", "marks",
            "review_queue", "gate_log", "student_thumbnails"} <= tables
    school_db.close(conn)


def test_master_data_constraints(tmp_path):
    conn = school_db.connect(tmp_path / "s.sqlite3")
    now = school_db.now_iso()
    conn.execute("INSERT INTO classes (id, name) VALUES ('10A1', '10A1')")
    ok = ("094208000101", "Lâm Thị Bích", "10A1", now, now)
    conn.execute("INSERT INTO students (id, full_name, class_id, created_at, updated_at) VALUES (?,?,?,?,?)", ok)
    for bad in (("09420800010", "Short id", "10A1", now, now), ("09420800010X", "Letter", "10A1", now, now),
                ("094208000102", "   ", "10A1", now, now), ("094208000103", "No class", "10A9", now, now)):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO students (id, full_name, class_id, created_at, updated_at) "
                         "VALUES (?,?,?,?,?)", bad)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO consents (student_id, purpose, given_by, given_at) "
                     "VALUES ('094208000101', 'attendance', 'neighbour', ?)", (now,))
    assert conn.execute("SELECT count(*) FROM students").fetchone()[0] == 1
    school_db.close(conn)


def test_transaction_rolls_back_everything_on_error(tmp_path):
    conn = school_db.connect(tmp_path / "s.sqlite3")
    with pytest.raises(sqlite3.IntegrityError):
        with school_db.transaction(conn):
            conn.execute("INSERT INTO classes (id, name) VALUES ('10A1', '10A1')")
            school_db.audit(conn, "tester", "class.create", "class:10A1")
            conn.execute("INSERT INTO classes (id, name) VALUES ('10A1', 'again')")
    assert conn.execute("SELECT count(*) FROM classes").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    with pytest.raises(school_db.SchoolDbError, match="nested"):
        with school_db.transaction(conn):
            with school_db.transaction(conn):
                pass
    school_db.close(conn)


def test_a_failing_migration_leaves_the_schema_as_it_was(tmp_path, monkeypatch):
    import types

    conn = school_db.connect(tmp_path / "s.sqlite3")
    broken = types.ModuleType("m9999_broken")
    broken.SQL = "CREATE TABLE half_done (x INTEGER);\nCREATE TABLE students (x);\n"
    real = school_db.migrations()
    monkeypatch.setattr(school_db, "migrations",
                        lambda: real + [school_db.Migration(9999, "broken", broken)])
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        school_db.migrate(conn)
    assert "9999_broken" not in school_db.applied(conn)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    school_db.close(conn)
