"""IOC fixtures: two schools with classes, students and an account per role; an event factory; the job
switched off in the app (tests run `job.tick` themselves, so every state they check is deterministic)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from central_server.attendance.service import apply_event
from central_server.attendance.tables import SchoolYear
from central_server.core.clock import local_today
from central_server.ioc import job
from central_server.ioc.config import IocSettings
from central_server.masterdata.service import create_school, create_teacher, school_year_of
from central_server.masterdata.tables import SchoolClass, Student
from edge_agent.protocol import AttendancePayload, EventKind, Session, Source, new_event

KEY = b"k" * 32
_seq = itertools.count(1)
ROLES = ["province_admin", "province_staff", "school_admin", "school_admin_b", "teacher"]


@pytest.fixture(autouse=True)
def _ioc_settings(request):
    """No background job in tests that build the app: they call `tick` and see exactly what it did."""
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        app.state.ioc_settings = IocSettings(_env_file=None, run_job=False, webhook_url=None)


def make_event(school_code: str, personal_id: str, day: dt.date, status: str, kind: str = "attendance.finalised",
               *, session: str = "morning", observed_at: dt.datetime | None = None, period: int | None = None):
    kind = EventKind(kind)
    source = Source(kind="camera", camera_id="cam-1") if kind is EventKind.ATTENDANCE_PROPOSED else \
        Source(kind="teacher", teacher_id="GV01")
    payload = AttendancePayload(student_id=personal_id, class_code="x", date=day, period=period,
                                session=Session(session), status=status, source=source,
                                observed_at=observed_at or dt.datetime.combine(day, dt.time(1), dt.UTC))
    return new_event(school_code, next(_seq), kind, payload, KEY)


@pytest.fixture()
def world(db, make_user):
    """School A (classes 10A1, 10A2; 12 students), school B (11B1; 4 students); a user per role."""
    today = local_today()
    year = school_year_of(today)
    a = create_school(db, "94000801", "THPT Lê Lợi")
    b = create_school(db, "94000802", "THPT Kế Sách")
    db.add(SchoolYear(name=year, starts_on=today - dt.timedelta(days=200), term2_starts_on=today - dt.timedelta(20),
                      ends_on=today + dt.timedelta(days=100)))
    c1 = SchoolClass(school_id=a.id, school_year=year, code="10A1", grade=10)
    c2 = SchoolClass(school_id=a.id, school_year=year, code="10A2", grade=10)
    c3 = SchoolClass(school_id=b.id, school_year=year, code="11B1", grade=11)
    db.add_all([c1, c2, c3])
    db.flush()
    students = []
    for i, klass in enumerate([c1] * 6 + [c2] * 6 + [c3] * 4):
        s = Student(personal_id=f"0942080{i:05d}", moet_code=f"HS{i:04d}", full_name=f"Học Sinh {i}",
                    school_id=klass.school_id, class_id=klass.id, gender="Nữ")
        db.add(s)
        students.append(s)
    db.commit()
    users = {
        "province_admin": make_user("so_admin", "province_admin", full_name="Trần Quản Trị"),
        "province_staff": make_user("so_canbo", "province_staff"),
        "school_admin": make_user("admin_a", "school_admin", school_id=a.id, full_name="Lê Hiệu Phó"),
        "school_admin_b": make_user("admin_b", "school_admin", school_id=b.id),
        "teacher": make_user("gv_a", "teacher", school_id=a.id),
    }
    create_teacher(db, a.id, "GV01", "Giáo Viên A", users["teacher"])
    db.commit()
    return {"a": a, "b": b, "classes": (c1, c2, c3), "students": students, "users": users, "year": year,
            "today": today}


@pytest.fixture()
def apply(db, settings):
    """apply(event...) -> applies events the way the ingest does (attendance.apply_event) and commits."""

    def _apply(*events):
        for ev in events:
            apply_event(db, ev, settings)
        db.commit()

    return _apply


@pytest.fixture()
def run_tick(app, settings):
    """run_tick(**kw) -> one run of the IOC job on the app's database."""

    def _tick(**kw):
        ioc = kw.pop("ioc", app.state.ioc_settings)
        return job.tick(app.state.sessionmaker, settings, ioc, **kw)

    return _tick


@pytest.fixture()
def ev():
    """ev(school_code, personal_id, day, status, kind="attendance.finalised", session=..., observed_at=...)."""
    return make_event
