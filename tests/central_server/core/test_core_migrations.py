"""Migrations: `upgrade heads` builds core, masterdata, attendance and the ingest's edge decision counts exactly as the
models say (SQLite, PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from central_server.core.db import make_engine
from central_server.core.migrate import upgrade

TABLES = {
    "core": {"users", "auth_tokens", "audit_log"},
    "masterdata": {"provinces", "schools", "classes", "teachers", "class_teachers", "students",
                   "student_enrolments", "masterdata_import_batches"},
    "attendance": {"attendance_marks", "attendance_history", "attendance_sessions", "attendance_school_years",
                   "attendance_daily"},
    "ingest": {"ingest_edge_decisions"},
}


def test_upgrade_heads_matches_models(db_url, schema_diff):
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        names = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            provinces = dict(conn.execute(text("select code, replaced_by from provinces")).all())
    finally:
        engine.dispose()
    for module, tables in TABLES.items():
        assert tables <= names, module
        assert schema_diff(db_url, tables) == [], module
    assert provinces == {"94": "92", "92": None}
    upgrade(db_url)  # idempotent
