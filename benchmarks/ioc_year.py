"""One school year of attendance for the IOC benchmark, built with set-based SQL (SQLite or PostgreSQL).

39 schools x `--students-per-school` students in classes of 40 (the demo builder's schools, classes, students
and users: `attendance.demo.add_people`), `--days` school days (Monday-Friday, ending today) x 2 sessions of
finalised whole-session marks, written to the tables the ingest writes: `attendance_sessions`,
`attendance_marks`, `attendance_history` (one event per mark, UUIDv7 event ids), then `attendance_daily`
(`demo.rebuild_daily`); on PostgreSQL the monthly partitions of the year are created first.

The rows are generated in the database (INSERT ... SELECT over students x days x sessions); secondary indexes
are dropped during the load and created again after it; PostgreSQL loads without the per-row foreign-key
triggers (`session_replication_role = replica`: the rows are consistent by construction), SQLite with
journal_mode=OFF / synchronous=OFF (back to WAL at the end). A calendar row (`attendance_school_years`) makes
the current school year start on the first of those days, so that every mark counts in the year's totals.

Absences: each student has an absence rate drawn from a spread of rates (most 0.5-4 % of sessions, a few 7-16 %),
60 % of the absences excused (P); 0.5 % of students have an illness of 8-20 school days in a row (P), and 0.3 %
stopped coming 10-25 school days ago (K on every session since: the dropout streak). A year of 175 days gives
97 % attendance, a mean of 10 absent sessions per student, about 8 % of students at >= 30 absent sessions, 4 %
at >= 40, 2.7 % over the 45-session limit.

    .venv/bin/python benchmarks/ioc_year.py --database-url sqlite:///var/ioc_year.sqlite3
    .venv/bin/python benchmarks/ioc_year.py --database-url postgresql+psycopg://postgres@127.0.0.1/ioc_perf_bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_db import migrated_engine  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from central_server.attendance.demo import DemoSize, add_people, rebuild_daily, school_days  # noqa: E402
from central_server.attendance.tables import AttendanceDaily, AttendanceMark, SchoolYear  # noqa: E402
from central_server.core.clock import local_today  # noqa: E402
from central_server.core.partitions import add_months, create_month, is_partitioned  # noqa: E402
from central_server.ingest.service import set_school_key  # noqa: E402
from central_server.masterdata.service import school_year_of  # noqa: E402
from central_server.masterdata.tables import School, Student  # noqa: E402

PASSWORD = "Bench-2025-pass"
KEY = b"b" * 32
TABLES = ("attendance_sessions", "attendance_marks", "attendance_history")
# marks and their events in the order they happen (ids and UUIDv7 event ids ascending with time)
DAY_MAJOR = "a.day, CASE a.session WHEN 'morning' THEN 0 ELSE 1 END, a.student_id"
# (absence rate in sessions per 1,000, weight)
RATES = ((5, 25), (10, 25), (20, 20), (40, 15), (70, 8), (110, 5), (160, 2))


def counts(conn) -> dict:
    return {"schools": conn.scalar(select(func.count()).select_from(School)),
            "students": conn.scalar(select(func.count()).select_from(Student)),
            "days": conn.scalar(select(func.count(func.distinct(AttendanceDaily.day)))),
            "marks": conn.scalar(select(func.count()).select_from(AttendanceMark))}


def profiles(rng: random.Random, students, days: int) -> list[dict]:
    """Per student: absence rate (per 1,000 sessions) and an optional run of days [run_from, run_to) absent."""
    rates = [r for r, w in RATES for _ in range(w)]
    out = []
    for sid, school_id, class_id in students:
        run_from, run_to, run_status = days, days, "P"
        u = rng.random()
        if u < 0.005:  # an illness: 8-20 school days, excused
            n = min(rng.randint(8, 20), days - 1)
            run_from = rng.randrange(0, days - n)
            run_to = run_from + n
        elif u < 0.008:  # stopped coming 10-25 school days ago
            run_from, run_to, run_status = max(0, days - rng.randint(10, 25)), days, "K"
        out.append({"student_id": sid, "school_id": school_id, "class_id": class_id, "rate": rng.choice(rates),
                    "run_from": run_from, "run_to": run_to, "run_status": run_status})
    return out


def _secondary_indexes(conn, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes that back no constraint (dropped during the load)."""
    if conn.dialect.name == "sqlite":
        return [tuple(r) for r in conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"),
            {"t": table})]
    # an index of a partitioned table reads "ON ONLY <table>": created again on the table and its partitions
    return [(name, sql.replace(" ON ONLY ", " ON ")) for name, sql in conn.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint)"), {"t": table})]


def _status(dialect: str) -> str:
    rnd, half = ("abs(random()) % 1000", "abs(random()) % 10 < 6") if dialect == "sqlite" else \
        ("random() * 1000", "random() < 0.6")
    return (f"CASE WHEN d.idx >= p.run_from AND d.idx < p.run_to THEN p.run_status "
            f"WHEN {rnd} < p.rate THEN (CASE WHEN {half} THEN 'P' ELSE 'K' END) ELSE 'present' END")


def _event_id(dialect: str) -> str:
    """A UUIDv7 as the edge writes them: its first 48 bits the mark's time in Unix ms (so that PostgreSQL's
    monthly partitions of `attendance_history` get the rows of their month), the student id in its last bits."""
    if dialect == "sqlite":
        ms = ("((CAST(strftime('%s', a.day) AS INTEGER) + CASE a.session WHEN 'morning' THEN 25200 ELSE 46800 END)"
              " * 1000)")
        return f"printf('%08x-%04x-7000-8000-%012x', {ms} >> 16, {ms} & 65535, a.student_id)"
    ms = f"(CAST(extract(epoch FROM {_observed(dialect)}) AS BIGINT) * 1000)"
    return (f"lpad(to_hex({ms} >> 16), 8, '0') || '-' || lpad(to_hex({ms} & 65535), 4, '0') || '-7000-8000-' || "
            f"lpad(to_hex(a.student_id), 12, '0')")


def _observed(dialect: str) -> str:
    """07:00 UTC (morning) or 13:00 UTC (afternoon) of the lesson's day, as the demo builder writes it."""
    if dialect == "sqlite":
        return "a.day || CASE a.session WHEN 'morning' THEN ' 07:00:00.000000' ELSE ' 13:00:00.000000' END"
    return ("((a.day + CASE a.session WHEN 'morning' THEN TIME '07:00' ELSE TIME '13:00' END) "
            "AT TIME ZONE 'UTC')")


def build(url: str, students_per_school: int = 1200, days: int = 175, end: dt.date | None = None,
          password: str = PASSWORD, seed: int = 7, log=print) -> dict:
    """Fill an empty database, or return the counts of one this function filled before (`reused`)."""
    engine = migrated_engine(url)
    try:
        with engine.connect() as conn:
            if conn.scalar(select(func.count()).select_from(School)):
                return counts(conn) | {"reused": True}
        end = end or local_today()
        day_list = school_days(end, days)
        year = school_year_of(end)
        rng = random.Random(seed)
        classes = max(1, students_per_school // 40)
        t0 = time.perf_counter()
        _schools, _classes, students = add_people(
            engine, DemoSize(39, classes, students_per_school // classes, days), year, rng, password)
        with Session(engine) as session:
            first = int(year[:4])
            row = session.get(SchoolYear, year)
            if row is None:
                session.add(SchoolYear(name=year, starts_on=day_list[0], term2_starts_on=day_list[len(day_list) // 2],
                                       ends_on=max(end, dt.date(first + 1, 5, 31))))
            for code in session.scalars(select(School.code)):
                set_school_key(session, code, KEY)
            session.commit()
        log(f"  people: {len(students):,} students in {time.perf_counter() - t0:.0f} s", flush=True)
        _load(engine, profiles(rng, students, len(day_list)), day_list, log)
        t0 = time.perf_counter()
        rebuild_daily(engine)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        log(f"  attendance_daily and ANALYZE in {time.perf_counter() - t0:.0f} s", flush=True)
        with engine.connect() as conn:
            return counts(conn) | {"reused": False}
    finally:
        engine.dispose()


def _load(engine, rows: list[dict], day_list: list[dt.date], log) -> None:
    dialect = engine.dialect.name
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        if dialect == "sqlite":
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
                conn.exec_driver_sql(f"PRAGMA {pragma}")
        else:
            conn.exec_driver_sql("SET synchronous_commit = off")
            # the rows are consistent by construction: no foreign-key trigger per row during the load
            conn.exec_driver_sql("SET session_replication_role = replica")
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            conn.exec_driver_sql("SET work_mem = '256MB'")
        conn.exec_driver_sql("CREATE TEMP TABLE bench_profile (student_id INTEGER PRIMARY KEY, school_id INTEGER, "
                             "class_id INTEGER, rate INTEGER, run_from INTEGER, run_to INTEGER, run_status TEXT)")
        conn.exec_driver_sql("CREATE TEMP TABLE bench_days (idx INTEGER PRIMARY KEY, day DATE)")
        conn.exec_driver_sql("CREATE TEMP TABLE bench_sess (no INTEGER PRIMARY KEY, name TEXT)")
        conn.execute(text("INSERT INTO bench_profile VALUES (:student_id, :school_id, :class_id, :rate, :run_from, "
                          ":run_to, :run_status)"), rows)
        conn.execute(text("INSERT INTO bench_days VALUES (:idx, :day)"),
                     [{"idx": i, "day": d.isoformat() if dialect == "sqlite" else d} for i, d in enumerate(day_list)])
        conn.execute(text("INSERT INTO bench_sess VALUES (0, 'morning'), (1, 'afternoon')"))
        conn.commit()
        if dialect == "postgresql":  # the months of the year as partitions (what the daily timer keeps ahead)
            month = day_list[0].replace(day=1)
            while month <= day_list[-1]:
                for table in ("attendance_history", "attendance_marks"):
                    if is_partitioned(conn, table):
                        create_month(conn, table, month)
                month = add_months(month, 1)
            conn.commit()
        dropped = {t: _secondary_indexes(conn, t) for t in TABLES}
        for indexes in dropped.values():
            for name, _sql in indexes:
                conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.commit()
        true = "1" if dialect == "sqlite" else "true"
        steps = [
            ("attendance_sessions",
             "INSERT INTO attendance_sessions (student_id, day, session, school_id, class_id, status, finalised) "
             f"SELECT p.student_id, d.day, s.name, p.school_id, p.class_id, {_status(dialect)}, {true} "
             "FROM bench_profile p CROSS JOIN bench_days d CROSS JOIN bench_sess s ORDER BY p.student_id, d.idx, s.no"),
            ("attendance_marks",
             "INSERT INTO attendance_marks (student_id, school_id, class_id, day, session, period, status, stage, "
             "stage_rank, source, event_id, observed_at, updated_at) "
             "SELECT a.student_id, a.school_id, a.class_id, a.day, a.session, 0, a.status, 'finalised', 2, "
             f"'teacher', {_event_id(dialect)}, {_observed(dialect)}, :now FROM attendance_sessions a "
             f"ORDER BY {DAY_MAJOR}"),
            ("attendance_history",
             "INSERT INTO attendance_history (event_id, student_id, day, session, period, status, stage, source, "
             "actor, reason, class_code, observed_at, received_at, applied) "
             f"SELECT {_event_id(dialect)}, a.student_id, a.day, a.session, 0, a.status, 'finalised', 'teacher', "
             f"'GV-DEMO', '', '', {_observed(dialect)}, :now, {true} FROM attendance_sessions a "
             f"ORDER BY {DAY_MAJOR}"),
        ]
        now_param = now.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else now
        for table, sql in steps:
            t0 = time.perf_counter()
            n = conn.execute(text(sql), {"now": now_param}).rowcount
            conn.commit()
            log(f"  {table}: {n:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        for table, indexes in dropped.items():
            t0 = time.perf_counter()
            for _name, sql in indexes:
                conn.exec_driver_sql(sql)
            conn.commit()
            log(f"  {table}: {len(indexes)} index(es) created again in {time.perf_counter() - t0:.0f} s", flush=True)
        if dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        else:
            conn.exec_driver_sql("SET session_replication_role = DEFAULT")
        for t in ("bench_profile", "bench_days", "bench_sess"):
            conn.exec_driver_sql(f"DROP TABLE {t}")
        conn.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--students-per-school", type=int, default=1200)
    ap.add_argument("--days", type=int, default=175)
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = build(args.database_url, args.students_per_school, args.days)
    print(f"{out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
