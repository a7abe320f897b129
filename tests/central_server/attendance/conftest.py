"""Attendance fixtures: a small school with classes, students and teacher accounts; an event factory."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from central_server.attendance.tables import SchoolYear
from central_server.core.clock import local_today
from central_server.masterdata.service import create_school, create_teacher, school_year_of
from central_server.masterdata.tables import SchoolClass, Student
from edge_agent.protocol import AttendancePayload, EventKind, Session, Source, new_event

KEY = b"k" * 32
_seq = itertools.count(1)


def make_event(school_code: str, personal_id: str, day: dt.date, period: int | None, status: str,
               kind: str = "attendance.finalised", *, class_code: str = "10A1", observed_at: dt.datetime | None = None,
               session: str | None = None, teacher: str = "GV01"):
    kind = EventKind(kind)
    source = Source(kind="camera", camera_id="cam-1") if kind is EventKind.ATTENDANCE_PROPOSED else \
        Source(kind="teacher", teacher_id=teacher)
    payload = AttendancePayload(student_id=personal_id, class_code=class_code, date=day, period=period,
                                session=Session(session) if session else None, status=status, source=source,
                                observed_at=observed_at or dt.datetime.combine(day, dt.time(8), dt.UTC))
    return new_event(school_code, next(_seq), kind, payload, KEY)


@pytest.fixture()
def world(db, make_user):
    """Two schools; school A has classes 10A1 (homeroom: gv_a) and 10A2; school B has 11B1. Users per role."""
    year = school_year_of(local_today())
    a = create_school(db, "94000701", "THPT Hoàng Diệu")
    b = create_school(db, "94000702", "THPT Mỹ Xuyên")
    c1 = SchoolClass(school_id=a.id, school_year=year, code="10A1", grade=10)
    c2 = SchoolClass(school_id=a.id, school_year=year, code="10A2", grade=10)
    c3 = SchoolClass(school_id=b.id, school_year=year, code="11B1", grade=11)
    # a calendar around today, so that "this school year" holds every test date whatever the run date
    today = local_today()
    db.add(SchoolYear(name=year, starts_on=today - dt.timedelta(days=200),
                      term2_starts_on=today - dt.timedelta(days=20),
                      ends_on=today + dt.timedelta(days=100)))
    db.add_all([c1, c2, c3])
    db.flush()
    students = {}
    for i, (klass, school) in enumerate([(c1, a), (c1, a), (c2, a), (c3, b)]):
        s = Student(personal_id=f"0942070{i:05d}", full_name=f"Học Sinh {chr(65 + i)}", school_id=school.id,
                    class_id=klass.id, gender="Nam")
        db.add(s)
        students[i] = s
    db.commit()
    users = {
        "province_admin": make_user("so_admin", "province_admin"),
        "province_staff": make_user("so_canbo", "province_staff"),
        "school_admin": make_user("admin_a", "school_admin", school_id=a.id),
        "school_admin_b": make_user("admin_b", "school_admin", school_id=b.id),
        "teacher": make_user("gv_a", "teacher", school_id=a.id),
    }
    t = create_teacher(db, a.id, "GV01", "Giáo Viên A", users["teacher"])
    c1.homeroom_teacher_id = t.id
    db.commit()
    return {"a": a, "b": b, "classes": (c1, c2, c3), "students": students, "users": users, "year": year}


@pytest.fixture()
def make_ev():
    """make_ev(school_code, personal_id, day, period, status, kind="attendance.finalised", ...) -> signed Event."""
    return make_event
