"""Report data shaped for the API and the pages (scoped to what the signed-in person may see)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from sqlalchemy.orm import Session

from central_server.core import clock
from central_server.core.config import Settings
from central_server.core.db import utcnow
from central_server.core.tables import User
from central_server.masterdata import access, service
from central_server.masterdata.tables import School, SchoolClass, Student

from . import reports
from .year_calendar import SESSION_SHORT, STATUS_STYLE, WEEKDAYS, year_calendar


def local_today(settings: Settings) -> dt.date:
    return clock.local_today(settings.timezone)


def check_day(day: dt.date | None, settings: Settings) -> dt.date:
    today = local_today(settings)
    if day is None:
        return today
    if not dt.date(2000, 1, 1) <= day <= today + dt.timedelta(days=1):
        raise HTTPException(422, "Ngày nằm ngoài khoảng cho phép.")
    return day


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def rate(pair: tuple[int, int] | None) -> float | None:
    return pair[0] / pair[1] if pair and pair[1] else None


def overview(session: Session, user: User, settings: Settings, day: dt.date) -> dict:
    schools = service.list_schools(session, user)
    ids = {s.id for s in schools}
    classes = access.visible_class_ids(session, user)
    monday, sunday = week_of(day)
    today = reports.school_rates(session, day, day, ids, classes)
    week = reports.school_rates(session, monday, min(sunday, day), ids, classes)
    open_sessions = reports.not_finalised(session, monday, day - dt.timedelta(days=1), ids)
    edge = reports.edge_status(session, settings, schools, utcnow())
    tz = ZoneInfo(settings.timezone)
    rows = [{"school": s, "today": rate(today.get(s.id)), "today_n": today.get(s.id, (0, 0))[1],
             "week": rate(week.get(s.id)), "edge": edge[s.id].state,
             "edge_seen": edge[s.id].last_seen.astimezone(tz) if edge[s.id].last_seen else None,
             "not_finalised": open_sessions.get(s.id, 0)}
            for s in schools]
    series = reports.daily_series(session, day - dt.timedelta(days=29), day, ids, classes)
    total_today = (sum(a for a, _ in today.values()), sum(n for _, n in today.values()))
    return {"day": day, "rows": rows, "series": series, "rate_today": rate(total_today),
            "offline": [r for r in rows if r["edge"] == "offline"],
            "never": [r for r in rows if r["edge"] == "never"],
            "unfinalised": [r for r in rows if r["not_finalised"]]}


def school_view(session: Session, user: User, settings: Settings, school: School, day: dt.date) -> dict:
    classes = service.list_classes(session, user, school.id)
    visible = access.visible_class_ids(session, user)
    monday, sunday = week_of(day)
    today = reports.class_rates(session, school.id, day, day, visible)
    week = reports.class_rates(session, school.id, monday, min(sunday, day), visible)
    rows = [{"klass": c, "students": n, "today": rate(today.get(c.id)), "week": rate(week.get(c.id))}
            for c, n in classes]
    series = reports.daily_series(session, day - dt.timedelta(days=29), day, {school.id}, visible)
    return {"school": school, "day": day, "rows": rows, "series": series}


def term_range(session: Session, settings: Settings, term: str, day: dt.date) -> reports.Term:
    for t in reports.year_terms(session, day, settings):
        if t.name == term:
            return t
    raise HTTPException(422, "Học kỳ phải là HK1, HK2 hoặc CN.")


def class_view(session: Session, settings: Settings, klass: SchoolClass, term: str, day: dt.date) -> dict:
    t = term_range(session, settings, term, day)
    rows = reports.student_totals(session, settings, t.start, t.end, class_ids={klass.id})
    # warning levels and the 45-buổi flag are about the whole year, whatever term is shown
    year = reports.year_terms(session, day, settings)[-1]
    yearly = {r.student_id: r for r in (rows if (t.start, t.end) == (year.start, year.end) else
                                        reports.student_totals(session, settings, year.start, year.end,
                                                               class_ids={klass.id}))}
    for r in rows:
        r.level, r.not_eligible = yearly[r.student_id].level, yearly[r.student_id].not_eligible
    return {"klass": klass, "term": t, "rows": rows}


def student_view(session: Session, settings: Settings, student: Student, day: dt.date) -> dict:
    terms = reports.year_terms(session, day, settings)
    totals = {t.name: reports.student_totals(session, settings, t.start, t.end, student_ids={student.id})[0]
              for t in terms}
    year = terms[-1]
    months = year_calendar(reports.student_sessions(session, student.id, year.start, year.end), year.start,
                           year.end, day)
    marks = reports.student_marks(session, student.id, day - dt.timedelta(days=60), day)  # the JSON API's view
    history = reports.student_history(session, student.id, limit=300)
    return {"student": student, "terms": terms, "totals": totals, "marks": marks, "months": months,
            "weekdays": WEEKDAYS, "session_short": SESSION_SHORT, "status_styles": STATUS_STYLE.values(),
            "history": history,
            "limit": settings.absence_limit_sessions, "levels": settings.absence_warning_levels}


def warnings_view(session: Session, user: User, settings: Settings, day: dt.date) -> list[reports.StudentTotals]:
    return reports.warnings(session, settings, day, access.visible_school_ids(session, user),
                            access.visible_class_ids(session, user))
