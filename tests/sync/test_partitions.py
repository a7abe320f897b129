"""Monthly partitions on PostgreSQL (migration partitions_0001, central_server/core/partitions.py): the migration
runs on a database holding data, every row lands in its month's partition, the ingest stays idempotent
(duplicates, seq_reused, event_id_conflict), the maintenance command creates months ahead and moves stray rows
out of the default partition, and the migration goes down and up again with the data intact."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from alembic.script import ScriptDirectory
from conftest import new_school
from sqlalchemy import func, inspect, select, text
from sync_helpers import payload

from central_server.attendance.tables import AttendanceHistory, AttendanceMark
from central_server.core.clock import local_today
from central_server.core.db import make_engine, make_sessionmaker, utcnow
from central_server.core.migrate import alembic_config, downgrade, upgrade
from central_server.core.partitions import PARTITIONED, ensure_partitions, partition_name, partitions_of
from central_server.events import event_handler as resolve_apply_event
from central_server.ingest.service import Incoming, reconcile, set_school_key, store_batch
from central_server.ingest.tables import IngestEvent, IngestQuarantine
from central_server.masterdata.tables import School, Student
from edge_agent import protocol as p

pytestmark = [pytest.mark.postgres]
MONTHS = [dt.date(2025, 10, 1), dt.date(2025, 11, 1), dt.date(2026, 1, 1)]


def uuid7_at(at: dt.datetime) -> uuid.UUID:
    """A UUIDv7 of a given time (protocol.uuid7 is monotonic per process: it never goes back in time)."""
    rand = int.from_bytes(os.urandom(10))
    return uuid.UUID(int=(int(at.timestamp() * 1000) << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
                     | (0b10 << 62) | (rand & (2**62 - 1)))


def event(school: str, key: bytes, seq: int, month: dt.date, student: str, day: dt.date) -> p.Event:
    at = dt.datetime(month.year, month.month, 15, 3, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=seq)
    eid = uuid7_at(at)
    body = payload(seq, day).model_copy(update={"student_id": student})
    return p.new_event(school, seq, "attendance.proposed", body, key, event_id=eid, created_at=at)


def upgrade_all_but_partitions(url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(url))
    for head in script.get_heads():
        if head != "partitions_0001":
            upgrade(url, head)


def snapshot(sessions) -> dict[str, list]:
    with sessions() as s:
        return {t: s.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in PARTITIONED}


def where_rows_are(sessions, table: str, key: str) -> list[tuple[str, object]]:
    with sessions() as s:
        return s.execute(text(f"SELECT tableoid::regclass::text, {key} FROM {table}")).all()


def test_partition_migration_with_data_keeps_ingest_idempotent(pg_url):
    upgrade_all_but_partitions(pg_url)
    engine = make_engine(pg_url)
    sessions = make_sessionmaker(engine)
    apply = resolve_apply_event()
    school, key = new_school()
    today = local_today()
    students = [f"0942070000{i:02d}" for i in range(4)]
    with sessions.begin() as s:
        set_school_key(s, school, key)
        sch = School(code=school, name="THPT Phân vùng")
        s.add(sch)
        s.flush()
        s.add_all(Student(personal_id=sid, full_name=f"Học Sinh {i}", school_id=sch.id)
                  for i, sid in enumerate(students))
    events = [event(school, key, seq, MONTHS[seq % 3], students[seq % 4], today - dt.timedelta(days=seq % 2))
              for seq in range(1, 31)]
    items = [Incoming(p.events_topic(school), e.to_bytes(), utcnow()) for e in events]
    with sessions.begin() as s:
        assert {o.status for o in store_batch(s, items, {school: key}.get, apply)} == {"stored"}
    with sessions.begin() as s:  # an older month of marks, written directly (the ingest only takes recent days)
        sid = s.scalar(select(Student.id).where(Student.personal_id == students[0]))
        s.execute(text("INSERT INTO attendance_marks (student_id, school_id, day, session, period, status, stage, "
                       "stage_rank, source, event_id, observed_at, updated_at) SELECT id, school_id, "
                       "'2025-09-08', 'morning', 1, 'P', 'finalised', 3, 'teacher', 'x', now(), now() "
                       "FROM students WHERE id = :sid"), {"sid": sid})
        s.execute(text("INSERT INTO attendance_history (event_id, student_id, day, session, period, status, stage, "
                       "source, actor, reason, class_code, observed_at, received_at, applied) VALUES (:e, :sid, "
                       "'2025-09-08', 'morning', 1, 'P', 'finalised', 'teacher', 'gv', '', '10A1', now(), now(), "
                       "true)"), {"e": "f" * 8 + str(uuid.uuid4())[8:], "sid": sid})  # not a UUIDv7 (demo data)
        s.execute(text("INSERT INTO attendance_history (event_id, student_id, day, session, period, status, stage, "
                       "source, actor, reason, class_code, observed_at, received_at, applied) VALUES (:e, :sid, "
                       "'2025-09-08', 'morning', 1, 'P', 'finalised', 'teacher', 'gv', '', '10A1', now(), now(), "
                       "true)"), {"e": str(uuid7_at(dt.datetime(2024, 3, 3, tzinfo=dt.UTC)))[:14] + "4"
                                  + str(uuid.uuid4())[15:], "sid": sid})  # a v4 id that looks like March 2024
    before = snapshot(sessions)
    assert len(before["ingest_events"]) == 30 and len(before["attendance_history"]) == 32
    engine.dispose()

    upgrade(pg_url)  # partitions_0001 on a database holding data
    engine = make_engine(pg_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as s:
            kinds = dict(s.execute(text("SELECT relname, relkind FROM pg_class WHERE relname = ANY(:t)"),
                                   {"t": list(PARTITIONED)}).all())
        assert kinds == {t: "p" for t in PARTITIONED}
        assert snapshot(sessions) == before  # every row once, unchanged
        for table in ("ingest_events", "attendance_history"):
            for part, eid in where_rows_are(sessions, table, "event_id"):
                if eid.startswith("ffffffff") or eid[14] == "4":
                    assert part == f"{table}_default"   # not a UUIDv7: no month of its own, never a crash
                    continue
                month = p.uuid7_time(uuid.UUID(eid)).date().replace(day=1)
                assert part == partition_name(table, month), (table, eid)
        for part, day in where_rows_are(sessions, "attendance_marks", "day"):
            assert part == partition_name("attendance_marks", day.replace(day=1))
        with sessions() as s:
            names = set(partitions_of(s.connection(), "ingest_events"))
        this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
        assert {"ingest_events_default", partition_name("ingest_events", this_month)} <= names
        assert {partition_name("ingest_events", m) for m in MONTHS} <= names

        # the ingest on the partitioned tables: redelivery, a reused (school, seq), a conflicting id
        with sessions.begin() as s:
            again = store_batch(s, items, {school: key}.get, apply)
        assert {o.status for o in again} == {"duplicate"}
        reused = event(school, key, 5, MONTHS[0], students[1], today)            # new id, seq 5 is held
        conflict = p.new_event(school, 99, "attendance.proposed", payload(99, today).model_copy(
            update={"student_id": students[2]}), key, event_id=events[6].event_id)  # a known id, other content
        later = event(school, key, 31, this_month, students[2], today)           # a new event: stored
        batch = [reused, conflict, later]
        with sessions.begin() as s:
            out = store_batch(s, [Incoming(p.events_topic(school), e.to_bytes(), utcnow()) for e in batch],
                              {school: key}.get, apply)
        assert out[0].status == "quarantined" and out[0].reason == "seq_reused"
        assert out[1].status == "quarantined" and out[1].reason == "event_id_conflict"
        assert out[-1].status == "stored"
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(IngestEvent)) == 31
            assert s.scalar(select(func.count(IngestEvent.event_id.distinct()))) == 31
            assert s.scalar(select(func.count()).select_from(AttendanceHistory)) == 33
            assert s.get(IngestEvent, str(events[0].event_id)).deliveries == 2
            assert s.scalar(select(func.count()).select_from(IngestQuarantine)) == len(batch) - 1
            r = reconcile(s, school, 1, 32)
        assert r.held == [(1, 31)] and r.missing == [32]
        # the conflicting copy claimed seq 99 before ON CONFLICT (event_id) skipped it: that stale claim must not
        # keep the school's real event 99 out
        real_99 = event(school, key, 99, this_month, students[3], today)
        with sessions.begin() as s:
            out = store_batch(s, [Incoming(p.events_topic(school), real_99.to_bytes(), utcnow())],
                              {school: key}.get, apply)
            assert out[0].status == "stored"
            assert s.execute(text("SELECT event_id FROM ingest_event_seqs WHERE school = :s AND seq = 99"),
                             {"s": school}).scalar() == str(real_99.event_id)
            assert s.scalar(select(func.count()).select_from(IngestEvent)) == 32
        with sessions.begin() as s:  # new marks still take ids from the handed-over sequence
            mark = s.scalars(select(AttendanceMark).order_by(AttendanceMark.id.desc())).first()
            assert mark.id > len(before["attendance_marks"]) - 1

        # maintenance: idempotent, months ahead, a stray row moved out of the default partition
        with engine.begin() as conn:
            assert ensure_partitions(conn) == []
        far = event(school, key, 40, dt.date(2027, 8, 1), students[3], today)
        with sessions.begin() as s:
            assert store_batch(s, [Incoming(p.events_topic(school), far.to_bytes(), utcnow())],
                               {school: key}.get)[0].status == "stored"
        assert ("ingest_events_default", str(far.event_id)) in where_rows_are(sessions, "ingest_events", "event_id")
        with engine.begin() as conn:
            created = ensure_partitions(conn, months_ahead=2, today=dt.date(2027, 7, 20))
        assert "ingest_events_2027_08" in created and "attendance_marks_2027_09" in created
        assert ("ingest_events_2027_08", str(far.event_id)) in where_rows_are(sessions, "ingest_events", "event_id")
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(IngestEvent)) == 33
        after = snapshot(sessions)
    finally:
        engine.dispose()

    downgrade(pg_url, "partitions@base")  # back to plain tables, data intact
    engine = make_engine(pg_url)
    try:
        insp = inspect(engine)
        assert ("school", "seq") in {tuple(u["column_names"]) for u in insp.get_unique_constraints("ingest_events")}
        assert snapshot(make_sessionmaker(engine)) == after
        with engine.connect() as conn:
            assert not conn.execute(text("SELECT to_regclass('ingest_event_seqs')")).scalar()
    finally:
        engine.dispose()
    upgrade(pg_url)


def test_partitions_command(pg_url, tmp_path):
    from typer.testing import CliRunner

    from central_server.cli import app

    runner = CliRunner()
    sqlite_url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    upgrade(sqlite_url)
    r = runner.invoke(app, ["db", "partitions", "--url", sqlite_url])
    assert r.exit_code == 0 and "không phân vùng" in r.output
    upgrade(pg_url)
    r = runner.invoke(app, ["db", "partitions", "--url", pg_url, "--months-ahead", "6"])
    assert r.exit_code == 0 and "Đã tạo 9 phân vùng" in r.output, r.output  # months 4..6 ahead, 3 tables
    r = runner.invoke(app, ["db", "partitions", "--url", pg_url, "--months-ahead", "6"])
    assert r.exit_code == 0 and "Các phân vùng đã đủ" in r.output
