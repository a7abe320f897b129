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

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from central_server.attendance.tables import AttendanceSession
from central_server.core.db import utcnow
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
