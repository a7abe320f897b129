"""Per-student absence state for the school year: P/K sessions, and the dropout signals.

Dropout signals (read on the student's own recorded school days, the last 20 within 60 calendar days):
- `streak_days`: school days in a row, ending on the student's latest recorded day, on which every recorded
  session was an absence (P or K);
- `recent_absent` / `prior_absent`: absent sessions in the latest 10 recorded days and in the 10 before;
  a rising trend is judged by the alert rule from these two numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import case, delete, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from central_server.attendance.tables import AttendanceSession
from central_server.core.db import UTCDateTime, utcnow
from central_server.masterdata.tables import Student

from .tables import IocStudentState

WINDOW_DAYS = 60
ABSENT = ("P", "K")
CHUNK = 500


def signals(days: dict[dt.date, list[str]]) -> tuple[int, int, int, dt.date | None]:
    """(streak_days, recent_absent, prior_absent, last_day) from {day: [session statuses]}."""
    ordered = sorted(days, reverse=True)[:20]
    streak = 0
    for day in ordered:
        if days[day] and all(s in ABSENT for s in days[day]):
            streak += 1
        else:
            break
    count = lambda ds: sum(s in ABSENT for d in ds for s in days[d])  # noqa: E731
    return streak, count(ordered[:10]), count(ordered[10:20]), (ordered[0] if ordered else None)


def recompute_students(session: Session, student_ids: list[int], year: str, start: dt.date, today: dt.date) -> None:
    """Replace the state rows of `student_ids` (in the caller's transaction)."""
    a = AttendanceSession
    now = utcnow()
    for i in range(0, len(student_ids), CHUNK):
        ids = student_ids[i:i + CHUNK]
        totals = {r[0]: (r[1] or 0, r[2] or 0) for r in session.execute(
            select(a.student_id, func.sum(case((a.status == "P", 1), else_=0)),
                   func.sum(case((a.status == "K", 1), else_=0)))
            .where(a.student_id.in_(ids), a.day >= start, a.day <= today).group_by(a.student_id))}
        recent: dict[int, dict[dt.date, list[str]]] = defaultdict(lambda: defaultdict(list))
        for sid, day, status in session.execute(
                select(a.student_id, a.day, a.status).where(
                    a.student_id.in_(ids), a.day >= max(start, today - dt.timedelta(days=WINDOW_DAYS)),
                    a.day <= today)):
            recent[sid][day].append(status)
        where = {r[0]: (r[1], r[2]) for r in session.execute(
            select(Student.id, Student.school_id, Student.class_id).where(Student.id.in_(ids)))}
        session.execute(delete(IocStudentState).where(IocStudentState.student_id.in_(ids)))
        rows = []
        for sid in ids:
            if sid not in where:
                continue
            p, k = totals.get(sid, (0, 0))
            streak, rec, prior, last = signals(recent.get(sid, {}))
            if p + k == 0 and last is None:
                continue  # nothing recorded this year: no row (counts stay exact)
            rows.append({"student_id": sid, "school_id": where[sid][0], "class_id": where[sid][1],
                         "school_year": year, "excused": p, "unexcused": k, "absent": p + k, "streak_days": streak,
                         "recent_absent": rec, "prior_absent": prior, "last_day": last, "updated_at": now})
        if rows:
            session.execute(insert(IocStudentState), rows)


def rebuild_students(session: Session, year: str, start: dt.date, today: dt.date) -> int:
    """Every student's state row from scratch in one INSERT ... SELECT (the table must be empty): the year's
    P/K totals grouped per student, and the dropout signals from the student's latest 20 recorded days in the
    window, ranked by a window function; the same values as `recompute_students` (tested). Returns the rows."""
    a = AttendanceSession
    absent = case((a.status.in_(ABSENT), 1), else_=0)
    totals = (select(a.student_id, func.sum(case((a.status == "P", 1), else_=0)).label("p"),
                     func.sum(case((a.status == "K", 1), else_=0)).label("k"))
              .where(a.day >= start, a.day <= today).group_by(a.student_id).subquery())
    per_day = (select(a.student_id, a.day, func.count().label("n"), func.sum(absent).label("absent"))
               .where(a.day >= max(start, today - dt.timedelta(days=WINDOW_DAYS)), a.day <= today)
               .group_by(a.student_id, a.day).subquery())
    ranked = select(per_day, func.row_number().over(partition_by=per_day.c.student_id,
                                                    order_by=per_day.c.day.desc()).label("rn")).subquery()
    rn = ranked.c.rn
    sig = (select(ranked.c.student_id,
                  func.max(case((rn == 1, ranked.c.day))).label("last_day"),
                  func.sum(case((rn <= 10, ranked.c.absent), else_=0)).label("recent"),
                  func.sum(case((rn > 10, ranked.c.absent), else_=0)).label("prior"),
                  func.coalesce(func.min(case((ranked.c.absent < ranked.c.n, rn))) - 1, func.count()).label("streak"))
           .where(rn <= 20).group_by(ranked.c.student_id).subquery())
    p, k = func.coalesce(totals.c.p, 0), func.coalesce(totals.c.k, 0)
    rows = (select(Student.id, Student.school_id, Student.class_id, literal(year), p, k, p + k,
                   func.coalesce(sig.c.streak, 0), func.coalesce(sig.c.recent, 0), func.coalesce(sig.c.prior, 0),
                   sig.c.last_day, literal(utcnow(), UTCDateTime()))
            .select_from(Student).join(totals, totals.c.student_id == Student.id)
            .outerjoin(sig, sig.c.student_id == Student.id)
            .where(or_(p + k > 0, sig.c.student_id.is_not(None))))
    session.execute(insert(IocStudentState).from_select(
        ["student_id", "school_id", "class_id", "school_year", "excused", "unexcused", "absent", "streak_days",
         "recent_absent", "prior_absent", "last_day", "updated_at"], rows))
    return session.scalar(select(func.count()).select_from(IocStudentState)) or 0
