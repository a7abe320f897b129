"""Read-side queries: rates per school and day, class totals, warnings, a student's history, not-finalised days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from central_server.core.config import Settings
from central_server.core.names import name_key, sort_by_name
from central_server.ingest.tables import EdgeStatus
from central_server.masterdata.service import school_year_of
from central_server.masterdata.tables import School, SchoolClass, Student

from .engine import Term, not_eligible, terms_of, warning_level
from .tables import AttendanceDaily, AttendanceHistory, AttendanceMark, AttendanceSession, SchoolYear


def year_terms(session: Session, day: dt.date, settings: Settings) -> list[Term]:
    """HK1, HK2 and CN (whole year) of the school year containing `day`, from the calendar table or defaults."""
    name = school_year_of(day, settings.year_start_month)
    row = session.get(SchoolYear, name)
    if row is not None:
        return terms_of(name, row.starts_on, row.term2_starts_on, row.ends_on)
    first = int(name[:4])
    month, mday = (int(x) for x in settings.term2_start_month_day.split("-"))
    return terms_of(name, dt.date(first, settings.year_start_month, 1), dt.date(first + 1, month, mday),
                    dt.date(first + 1, settings.year_start_month, 1) - dt.timedelta(days=1))


def _scope(q, school_ids: set[int] | None, class_ids: set[int] | None):
    if school_ids is not None:
        q = q.where(AttendanceDaily.school_id.in_(school_ids))
    if class_ids is not None:
        q = q.where(AttendanceDaily.class_id.in_(class_ids))
    return q


def school_rates(session: Session, start: dt.date, end: dt.date, school_ids: set[int] | None = None,
                 class_ids: set[int] | None = None) -> dict[int, tuple[int, int]]:
    """school_id -> (attended sessions, recorded sessions) between start and end (inclusive)."""
    q = (select(AttendanceDaily.school_id, func.sum(AttendanceDaily.attended), func.sum(AttendanceDaily.total))
         .where(AttendanceDaily.day.between(start, end)).group_by(AttendanceDaily.school_id))
    return {sid: (int(a or 0), int(n or 0)) for sid, a, n in session.execute(_scope(q, school_ids, class_ids))}


def class_rates(session: Session, school_id: int, start: dt.date, end: dt.date,
                class_ids: set[int] | None = None) -> dict[int, tuple[int, int]]:
    q = (select(AttendanceDaily.class_id, func.sum(AttendanceDaily.attended), func.sum(AttendanceDaily.total))
         .where(AttendanceDaily.school_id == school_id, AttendanceDaily.day.between(start, end))
         .group_by(AttendanceDaily.class_id))
    return {cid: (int(a or 0), int(n or 0)) for cid, a, n in session.execute(_scope(q, None, class_ids))}


def daily_series(session: Session, start: dt.date, end: dt.date, school_ids: set[int] | None = None,
                 class_ids: set[int] | None = None) -> list[tuple[dt.date, float | None]]:
    q = (select(AttendanceDaily.day, func.sum(AttendanceDaily.attended), func.sum(AttendanceDaily.total))
         .where(AttendanceDaily.day.between(start, end)).group_by(AttendanceDaily.day).order_by(AttendanceDaily.day))
    return [(d, (int(a or 0) / n) if n else None) for d, a, n in session.execute(_scope(q, school_ids, class_ids))]


def not_finalised(session: Session, start: dt.date, end: dt.date, school_ids: set[int] | None = None
                  ) -> dict[int, int]:
    """school_id -> number of student-sessions between start and end not yet finalised by a teacher."""
    q = (select(AttendanceDaily.school_id, func.sum(AttendanceDaily.unfinalised))
         .where(AttendanceDaily.day.between(start, end)).group_by(AttendanceDaily.school_id))
    return {sid: int(n or 0) for sid, n in session.execute(_scope(q, school_ids, None)) if n}


@dataclass
class StudentTotals:
    student_id: int
    full_name: str
    personal_id: str
    class_code: str
    school_id: int
    excused: int
    unexcused: int
    level: int | None = None
    not_eligible: bool = False

    @property
    def total(self) -> int:
        return self.excused + self.unexcused


def student_totals(session: Session, settings: Settings, start: dt.date, end: dt.date, *,
                   school_ids: set[int] | None = None, class_ids: set[int] | None = None,
                   student_ids: set[int] | None = None, min_total: int = 0) -> list[StudentTotals]:
    """Absent buổi (P, K) per student in [start, end], with warning level and the over-45 flag."""
    p = func.sum(case((AttendanceSession.status == "P", 1), else_=0)).label("p")
    k = func.sum(case((AttendanceSession.status == "K", 1), else_=0)).label("k")
    absences = (select(AttendanceSession.student_id, p, k)
                .where(AttendanceSession.status.in_(("P", "K")), AttendanceSession.day.between(start, end))
                .group_by(AttendanceSession.student_id))
    if school_ids is not None:
        absences = absences.where(AttendanceSession.school_id.in_(school_ids))
    if class_ids is not None:
        absences = absences.where(AttendanceSession.class_id.in_(class_ids))
    if student_ids is not None:
        absences = absences.where(AttendanceSession.student_id.in_(student_ids))
    if min_total:
        absences = absences.having(func.count() >= min_total)
    sub = absences.subquery()
    q = (select(Student.id, Student.full_name, Student.personal_id, SchoolClass.code, Student.school_id,
                sub.c.p, sub.c.k)
         .join(sub, sub.c.student_id == Student.id, isouter=not min_total)
         .join(SchoolClass, SchoolClass.id == Student.class_id, isouter=True))
    if school_ids is not None:
        q = q.where(Student.school_id.in_(school_ids))
    if class_ids is not None:
        q = q.where(Student.class_id.in_(class_ids))
    if student_ids is not None:
        q = q.where(Student.id.in_(student_ids))
    out = []
    for sid, name, pid, ccode, school_id, ex, unex in session.execute(q):
        t = StudentTotals(sid, name, pid, ccode or "", school_id, int(ex or 0), int(unex or 0))
        t.level = warning_level(t.total, settings.absence_warning_levels)
        t.not_eligible = not_eligible(t.total, settings.absence_limit_sessions)
        out.append(t)
    return sort_by_name(out)  # Vietnamese class-list order (core/names.py); the database cannot collate it


def warnings(session: Session, settings: Settings, day: dt.date, school_ids: set[int] | None = None,
             class_ids: set[int] | None = None) -> list[StudentTotals]:
    """Students at or above the lowest warning level in the school year of `day`, most absent first."""
    year = year_terms(session, day, settings)[-1]
    lowest = min(settings.absence_warning_levels) if settings.absence_warning_levels else 1
    rows = student_totals(session, settings, year.start, year.end, school_ids=school_ids, class_ids=class_ids,
                          min_total=lowest)
    return sorted(rows, key=lambda r: (-r.total, name_key(r.full_name)))


def student_history(session: Session, student_id: int, limit: int = 500) -> list[AttendanceHistory]:
    return list(session.scalars(select(AttendanceHistory).where(AttendanceHistory.student_id == student_id)
                                .order_by(AttendanceHistory.day.desc(), AttendanceHistory.period,
                                          AttendanceHistory.received_at).limit(limit)))


def student_sessions(session: Session, student_id: int, start: dt.date, end: dt.date) -> list[AttendanceSession]:
    """The student's derived sessions (buổi) between `start` and `end`, for the year calendar."""
    return list(session.scalars(select(AttendanceSession).where(
        AttendanceSession.student_id == student_id, AttendanceSession.day.between(start, end))))


def student_marks(session: Session, student_id: int, start: dt.date, end: dt.date) -> list[AttendanceMark]:
    return list(session.scalars(select(AttendanceMark).where(
        AttendanceMark.student_id == student_id, AttendanceMark.day.between(start, end))
        .order_by(AttendanceMark.day.desc(), AttendanceMark.session, AttendanceMark.period)))


class EdgeState(NamedTuple):
    state: str                        # online | offline | never | unknown
    last_seen: dt.datetime | None     # the last heartbeat (or the last will's arrival), UTC


def edge_status(session: Session, settings: Settings, schools: list[School], now: dt.datetime
                ) -> dict[int, EdgeState]:
    """school_id -> state of its edge agent, from the statuses the ingest worker stores (`ingest/status.py`).

    "offline": the agent's last will arrived, or its last heartbeat is older than
    `settings.edge_offline_after_minutes` (an agent that vanished without the broker noticing);
    "never": the ingest module has no status at all from the school's agent (never connected: "chưa kết nối");
    "unknown": the ingest module is not installed, so nobody can tell."""
    if settings.modules is not None and "ingest" not in settings.modules:
        return {s.id: EdgeState("unknown", None) for s in schools}
    rows = {r.school: r for r in session.scalars(select(EdgeStatus).where(
        EdgeStatus.school.in_([s.code for s in schools])))}
    limit = now - dt.timedelta(minutes=settings.edge_offline_after_minutes)
    out = {}
    for s in schools:
        r = rows.get(s.code)
        if r is None:
            out[s.id] = EdgeState("never", None)
        elif r.state != "online" or r.last_seen_at < limit:
            out[s.id] = EdgeState("offline", r.last_seen_at)
        else:
            out[s.id] = EdgeState("online", r.last_seen_at)
    return out
