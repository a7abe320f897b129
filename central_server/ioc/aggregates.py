"""The incremental job's fold: new attendance history (and ingest quarantine) rows since the watermark ->
`ioc_school_daily` and `ioc_student_state`; and `rebuild`, the same tables from scratch.

The watermark is the highest source id folded in. On PostgreSQL a transaction that took a lower id may commit
after a higher one was read, so every id skipped below the watermark is kept in `gaps` and looked for again at
each run until `gap_ttl_s` has passed (a rolled-back insert leaves a gap forever). Event counters are added as
deltas (each history row is folded exactly once, in the same transaction as the watermark moves); session
counts and student states are recomputed from their sources for every key a new row touched (idempotent).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, case, cast, delete, func, insert, literal, select, union_all
from sqlalchemy.orm import Session

from central_server.attendance.reports import year_terms
from central_server.attendance.tables import AttendanceDaily, AttendanceHistory
from central_server.core.config import Settings
from central_server.core.db import UTCDateTime, utcnow
from central_server.masterdata.tables import School, Student

from .config import IocSettings
from .students import rebuild_students, recompute_students
from .tables import IocSchoolDaily, IocStudentState, IocWatermark

try:  # the ingest module is optional (CENTRAL_MODULES)
    from central_server.ingest.tables import IngestQuarantine
except ImportError:  # pragma: no cover - only without the ingest package
    IngestQuarantine = None

HISTORY, QUARANTINE = "attendance_history", "ingest_quarantine"
SOURCES = (HISTORY, QUARANTINE)
CHUNK = 500


@dataclass
class FoldResult:
    rows: int = 0
    schools: set[int] = field(default_factory=set)
    student_ids: set[int] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return self.rows > 0


def _watermark(session: Session, name: str) -> IocWatermark:
    q = select(IocWatermark).where(IocWatermark.name == name)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # one folder at a time (several web workers may run the job)
    row = session.scalars(q).one_or_none()
    if row is None:
        row = IocWatermark(name=name, last_id=0, gaps={})
        session.add(row)
        session.flush()
    return row


def _new_ids(session: Session, mark: IocWatermark, id_col, columns, limit: int, ttl_s: float) -> list:
    """Rows above the watermark (up to `limit`) and rows filling a watched gap; moves the watermark."""
    rows = list(session.execute(select(id_col, *columns).where(id_col > mark.last_id).order_by(id_col).limit(limit)))
    gaps = {int(k): v for k, v in (mark.gaps or {}).items()}
    if gaps:
        filled = list(session.execute(select(id_col, *columns).where(id_col.in_(list(gaps)))))
        rows.extend(filled)
        for r in filled:
            gaps.pop(r[0], None)
    now_s = time.time()
    if rows:
        top = max(r[0] for r in rows)
        if top > mark.last_id:
            seen = {r[0] for r in rows}
            for missing in range(mark.last_id + 1, top):
                if missing not in seen:
                    gaps[missing] = now_s
            mark.last_id = top
    mark.gaps = {str(k): v for k, v in gaps.items() if now_s - v < ttl_s}
    mark.updated_at = utcnow()
    return rows


def _on_time_limit(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """A mark finalised before the end of its lesson day (local midnight) is on time."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)


def _daily_row(session: Session, school_id: int, day: dt.date) -> IocSchoolDaily:
    row = session.get(IocSchoolDaily, (school_id, day))
    if row is None:
        row = IocSchoolDaily(school_id=school_id, day=day, total=0, attended=0, excused=0, unexcused=0,
                             unfinalised=0, proposals=0, corrections=0, finalised=0, finalised_on_time=0,
                             quarantined=0)
        session.add(row)
    return row


def _refresh_sessions(session: Session, keys: set[tuple[int, dt.date]]) -> None:
    """Session counts of each (school, day) again from `attendance_daily` (a few class rows each)."""
    by_school: dict[int, set[dt.date]] = defaultdict(set)
    for school_id, day in keys:
        by_school[school_id].add(day)
    d = AttendanceDaily
    for school_id, days in by_school.items():
        days_l = sorted(days)
        for i in range(0, len(days_l), CHUNK):
            sums = {r.day: r for r in session.execute(
                select(d.day, func.sum(d.total).label("total"), func.sum(d.attended).label("attended"),
                       func.sum(d.excused).label("excused"), func.sum(d.unexcused).label("unexcused"),
                       func.sum(d.unfinalised).label("unfinalised"))
                .where(d.school_id == school_id, d.day.in_(days_l[i:i + CHUNK])).group_by(d.day))}
            for day in days_l[i:i + CHUNK]:
                row, s = _daily_row(session, school_id, day), sums.get(day)
                row.total, row.attended = (s.total, s.attended) if s else (0, 0)
                row.excused, row.unexcused, row.unfinalised = (s.excused, s.unexcused, s.unfinalised) if s else (0,
                                                                                                                  0, 0)
                row.updated_at = utcnow()


def fold(session: Session, settings: Settings, ioc: IocSettings, today: dt.date) -> FoldResult:
    """Fold the new rows into the aggregates in the caller's transaction (the caller commits)."""
    tz = ZoneInfo(settings.timezone)
    result = FoldResult()
    h = AttendanceHistory
    mark = _watermark(session, HISTORY)
    rows = _new_ids(session, mark, h.id, (h.student_id, h.day, h.stage, h.source, h.observed_at), ioc.batch_rows,
                    ioc.gap_ttl_s)
    if rows:
        student_ids = sorted({r.student_id for r in rows})
        where: dict[int, tuple[int, int | None]] = {}
        for i in range(0, len(student_ids), CHUNK):
            for sid, school_id, class_id in session.execute(select(Student.id, Student.school_id, Student.class_id)
                                                            .where(Student.id.in_(student_ids[i:i + CHUNK]))):
                where[sid] = (school_id, class_id)
        deltas: dict[tuple[int, dt.date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for r in rows:
            if r.student_id not in where:
                continue  # the student was erased since
            d = deltas[(where[r.student_id][0], r.day)]
            d[0] += r.stage == "proposed" and r.source == "camera"
            d[1] += r.stage == "corrected"
            d[2] += r.stage == "finalised"
            d[3] += r.stage == "finalised" and r.observed_at < _on_time_limit(r.day, tz)
        _refresh_sessions(session, set(deltas))
        for (school_id, day), (p, c, f, ot) in deltas.items():
            row = _daily_row(session, school_id, day)
            row.proposals += p
            row.corrections += c
            row.finalised += f
            row.finalised_on_time += ot
        year = year_terms(session, today, settings)[-1]
        touched = [sid for sid in student_ids if sid in where]
        recompute_students(session, touched, year.name, year.start, today)
        result.rows += len(rows)
        result.student_ids = set(touched)
        result.schools |= {school_id for school_id, _ in deltas}
    if IngestQuarantine is not None:
        result.rows += _fold_quarantine(session, ioc, tz, result)
    session.flush()
    return result


def _fold_quarantine(session: Session, ioc: IocSettings, tz: ZoneInfo, result: FoldResult) -> int:
    q = IngestQuarantine
    mark = _watermark(session, QUARANTINE)
    rows = _new_ids(session, mark, q.id, (q.school, q.received_at), ioc.batch_rows, ioc.gap_ttl_s)
    if not rows:
        return 0
    codes = {c: i for c, i in session.execute(select(School.code, School.id).where(
        School.code.in_({r.school for r in rows if r.school})))}
    for r in rows:
        school_id = codes.get(r.school)
        if school_id is not None:
            _daily_row(session, school_id, r.received_at.astimezone(tz).date()).quarantined += 1
            result.schools.add(school_id)
    return len(rows)


def rebuild(session: Session, settings: Settings, today: dt.date) -> dict:
    """Every aggregate from scratch (after a restore, or a rule change), set-based: each table is one
    INSERT ... SELECT grouped in the database (no row of the year's marks goes through Python). The caller
    commits. `fold` of the same rows gives the same tables (tested)."""
    tz = ZoneInfo(settings.timezone)
    for table in (IocSchoolDaily, IocStudentState, IocWatermark):
        session.execute(delete(table))
    h, s, d = AttendanceHistory, Student, AttendanceDaily
    # the watermarks first: rows committed while this runs are folded by the next incremental run
    top = session.scalar(select(func.max(h.id))) or 0
    session.add(IocWatermark(name=HISTORY, last_id=top, gaps={}))
    qtop = session.scalar(select(func.max(IngestQuarantine.id))) or 0 if IngestQuarantine is not None else 0
    session.add(IocWatermark(name=QUARANTINE, last_id=qtop, gaps={}))
    session.flush()
    zero = literal(0)
    offset = dt.datetime.now(tz).utcoffset() or dt.timedelta(0)
    late = _late_expression(session, h, offset, settings.timezone)
    final = h.stage == "finalised"
    sessions_part = select(d.school_id.label("school_id"), d.day.label("day"), d.total.label("total"),
                           d.attended.label("attended"), d.excused.label("excused"), d.unexcused.label("unexcused"),
                           d.unfinalised.label("unfinalised"), zero.label("proposals"), zero.label("corrections"),
                           zero.label("finalised"), zero.label("finalised_on_time"))
    counters_part = (select(s.school_id, h.day, zero, zero, zero, zero, zero,
                            func.sum(case(((h.stage == "proposed") & (h.source == "camera"), 1), else_=0)),
                            func.sum(case((h.stage == "corrected", 1), else_=0)),
                            func.sum(case((final, 1), else_=0)),
                            func.sum(case((final & ~late, 1), else_=0)))
                     .join(s, s.id == _scan_key(session, h.student_id)).where(h.id <= top)
                     .group_by(s.school_id, h.day))
    both = union_all(sessions_part, counters_part).subquery()
    cols = ("total", "attended", "excused", "unexcused", "unfinalised", "proposals", "corrections", "finalised",
            "finalised_on_time")
    session.execute(insert(IocSchoolDaily).from_select(
        ["school_id", "day", *cols, "quarantined", "updated_at"],
        select(both.c.school_id, both.c.day, *(func.sum(both.c[c]) for c in cols), zero,
               literal(utcnow(), UTCDateTime())).group_by(both.c.school_id, both.c.day)))
    if IngestQuarantine is not None:  # a week of quarantined messages at most: a few rows
        codes = dict(session.execute(select(School.code, School.id)).all())
        for code, received_at in session.execute(select(IngestQuarantine.school, IngestQuarantine.received_at)
                                                 .where(IngestQuarantine.id <= qtop)):
            if code in codes:
                _daily_row(session, codes[code], received_at.astimezone(tz).date()).quarantined += 1
    session.flush()
    year = year_terms(session, today, settings)[-1]
    states = rebuild_students(session, year.name, year.start, today)
    return {"history_rows": top, "students": session.scalar(select(func.count()).select_from(Student)),
            "student_states": states,
            "school_days": session.scalar(select(func.count()).select_from(IocSchoolDaily))}


def _scan_key(session: Session, column):
    """SQLite: `column + 0`, so that the planner scans the history in storage order and looks each student up
    by primary key, instead of walking the students and fetching their history rows one by one through the
    (student, day) index (random reads over the whole table). PostgreSQL hashes the students either way."""
    return column + 0 if session.get_bind().dialect.name == "sqlite" else column


def _late_expression(session: Session, h, offset: dt.timedelta, timezone: str):
    """observed_at >= the end of the lesson's local day, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        end = func.timezone(timezone, cast(h.day + 1, DateTime()))
        return h.observed_at >= end
    hours = -offset.total_seconds() / 3600
    return h.observed_at >= func.datetime(h.day, "+1 day", f"{hours:+.4f} hours")

