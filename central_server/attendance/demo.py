"""A generated demo dataset: schools, classes, students, users and weeks of attendance (bulk insert).

Not real people: names are composed from common Vietnamese and Khmer name parts; ids are random.
Marks are whole-session marks (period 0), finalised, with realistic absence rates per student. A few students
(`ABSENCE_CASES`) have long absences (illness, working in the harvest, about to drop out) just under, at and over
the warning levels (30, 40) and the 45-session limit, so that the warnings page has something to show.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, case, delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from central_server.core.auth import create_user
from central_server.core.db import utcnow
from central_server.masterdata.service import school_year_of
from central_server.masterdata.tables import School, SchoolClass, Student

from .service import ATTENDED_SESSIONS
from .tables import AttendanceDaily, AttendanceHistory, AttendanceMark, AttendanceSession

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Thạch", "Lâm", "Sơn", "Danh", "Kim", "Trương", "Lý"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Hoàng", "Thanh", "Sô", "Sa"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Hà", "Khánh", "Linh", "Mai", "Nam", "Phúc", "Rin", "Sóc", "Thảo", "Vy"]
CHUNK = 5000
# absent sessions of the demo's hard cases: (school index, sessions); capped by the sessions the demo holds
ABSENCE_CASES: tuple[tuple[int, int], ...] = ((0, 28), (0, 32), (0, 41), (0, 47), (1, 36), (1, 46))


@dataclass
class DemoSize:
    schools: int = 39
    classes_per_school: int = 4
    students_per_class: int = 30
    days: int = 30  # school days (Monday–Friday) back from `end`
    sessions_per_day: int = 2


def school_days(end: dt.date, n: int) -> list[dt.date]:
    days, d = [], end
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d -= dt.timedelta(days=1)
    return sorted(days)


def rebuild_daily(engine: Engine) -> None:
    """Recompute `attendance_daily` from `attendance_sessions` (after a bulk load)."""
    s = AttendanceSession
    attended = func.sum(case((s.status.in_(ATTENDED_SESSIONS), 1), else_=0))
    cid = func.coalesce(s.class_id, literal_column("0"))
    counts = select(s.school_id, cid, s.day, func.count(), attended,
                    func.sum(case((s.status == "P", 1), else_=0)), func.sum(case((s.status == "K", 1), else_=0)),
                    func.sum(case((s.finalised.is_(False), 1), else_=0))
                    ).group_by(s.school_id, cid, s.day)
    with engine.begin() as conn:
        conn.execute(delete(AttendanceDaily))
        conn.execute(insert(AttendanceDaily).from_select(
            ["school_id", "class_id", "day", "total", "attended", "excused", "unexcused", "unfinalised"], counts))


def generate(engine: Engine, size: DemoSize, end: dt.date, seed: int = 7, password: str | None = None) -> dict:
    """Fill an empty database (schema already created); returns counts. Users get `password` when given."""
    rng = random.Random(seed)
    days = school_days(end, size.days)
    year = school_year_of(days[0])
    schools, classes, students = add_people(engine, size, year, rng, password)
    sessions = ["morning", "afternoon"][:size.sessions_per_day]
    cases = _absence_cases(rng, students, [(d, x) for d in days for x in sessions])
    now = utcnow()
    marks, states, history = [], [], []
    counts = {"marks": 0}

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(AttendanceMark), marks)
            conn.execute(insert(AttendanceSession), states)
            conn.execute(insert(AttendanceHistory), history)
        counts["marks"] += len(marks)
        marks.clear(), states.clear(), history.clear()

    for sid, school_id, class_id in students:
        p_absent = rng.choice([0.01, 0.02, 0.03, 0.05, 0.12, 0.3])
        absent = cases.get(sid)
        for day in days:
            for sess in sessions:
                r = rng.random()
                status = ("P" if rng.random() < 0.6 else "K") if r < p_absent else "present"
                if absent is not None:
                    status = absent.get((day, sess), "present")
                eid = str(uuid.uuid4())
                at = dt.datetime.combine(day, dt.time(7 if sess == "morning" else 13), dt.UTC)
                marks.append({"student_id": sid, "school_id": school_id, "class_id": class_id, "day": day,
                              "session": sess, "period": 0, "status": status, "stage": "finalised", "stage_rank": 2,
                              "source": "teacher", "event_id": eid, "observed_at": at, "updated_at": now})
                states.append({"student_id": sid, "day": day, "session": sess, "school_id": school_id,
                               "class_id": class_id, "status": status, "finalised": True})
                history.append({"event_id": eid, "student_id": sid, "day": day, "session": sess, "period": 0,
                                "status": status, "stage": "finalised", "source": "teacher", "actor": "GV-DEMO",
                                "reason": "", "class_code": "", "observed_at": at, "received_at": now,
                                "applied": True})
                if len(marks) >= CHUNK:
                    flush()
    if marks:
        flush()
    rebuild_daily(engine)
    return {"schools": len(schools), "classes": len(classes), "students": len(students), "days": len(days),
            "marks": counts["marks"]}


def add_people(engine: Engine, size: DemoSize, year: str, rng: random.Random, password: str | None = None):
    """The demo's schools, classes of `year`, students and (with `password`) the demo users; returns (schools,
    classes, [(student id, school id, class id)])."""
    with Session(engine) as session:
        schools = [School(code=f"9400{i + 1:04d}", name=f"THPT Demo {i + 1:02d}", province_code="92",
                          former_province_code="94") for i in range(size.schools)]
        session.add_all(schools)
        session.flush()
        classes = [SchoolClass(school_id=s.id, school_year=year, code=f"{10 + c % 3}A{c // 3 + 1}", grade=10 + c % 3)
                   for s in schools for c in range(size.classes_per_school)]
        session.add_all(classes)
        session.flush()
        ids = iter(rng.sample(range(10**9), len(classes) * size.students_per_class))
        session.execute(insert(Student), [
            {"personal_id": f"094{next(ids):09d}", "full_name":
             f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}", "school_id": c.school_id,
             "class_id": c.id, "gender": rng.choice(["Nam", "Nữ"]), "ethnicity": "", "status": "Đang học"}
            for c in classes for _ in range(size.students_per_class)])
        if password:
            create_user(session, "so_admin", password, "province_admin", full_name="Quản trị Sở (demo)")
            create_user(session, "so_canbo", password, "province_staff", full_name="Cán bộ Sở (demo)")
            create_user(session, "admin_t01", password, "school_admin", school_id=schools[0].id)
        session.commit()
        students = session.execute(select(Student.id, Student.school_id, Student.class_id)).all()
    return schools, classes, students


def _absence_cases(rng: random.Random, students, slots: list[tuple[dt.date, str]]
                   ) -> dict[int, dict[tuple[dt.date, str], str]]:
    """student id -> {(day, session): "P"/"K"} for the ABSENCE_CASES: a run of consecutive sessions (an
    illness, mostly excused) and scattered unexcused ones, on students taken in order from the given schools."""
    by_school: dict[int, list[int]] = {}
    for sid, school_id, _ in students:
        by_school.setdefault(school_id, []).append(sid)
    schools = sorted(by_school)
    taken: dict[int, int] = {}
    out: dict[int, dict[tuple[dt.date, str], str]] = {}
    for index, n in ABSENCE_CASES:
        if index >= len(schools):
            continue
        pool = by_school[schools[index]]
        k = taken.get(index, 0)
        if k >= len(pool):
            continue
        taken[index] = k + 1
        n = min(n, len(slots))
        run = n // 2
        start = rng.randrange(0, len(slots) - run + 1)
        chosen = set(range(start, start + run))
        rest = [i for i in range(len(slots)) if i not in chosen]
        chosen |= set(rng.sample(rest, n - run))
        out[pool[k]] = {slots[i]: ("P" if i < start + run and i >= start and rng.random() < 0.8 else "K")
                        for i in sorted(chosen)}
    return out


ROSTER_COLUMNS = ("school_code", "school_name", "class", "grade", "personal_id", "full_name")


def read_roster(path: Path) -> list[dict[str, str]]:
    """Rows of a demo school roster CSV (columns `ROSTER_COLUMNS`); ValueError names a missing column."""
    if not path.is_file():
        raise ValueError(f"không tìm thấy tệp {path}")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ROSTER_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: thiếu cột {', '.join(missing)}")
        return [row for row in reader if row.get("personal_id")]


def add_roster(engine: Engine, rows: list[dict[str, str]], today: dt.date) -> dict:
    """Add the schools, classes (this school year) and students of a roster (the demo edge school, whose events
    then find their school and students); returns counts."""
    year = school_year_of(today)
    with Session(engine) as session:
        schools: dict[str, School] = {}
        classes: dict[tuple[str, str], SchoolClass] = {}
        for row in rows:
            code = row["school_code"]
            if code not in schools:
                schools[code] = School(code=code, name=row["school_name"], province_code="92",
                                       former_province_code="94")
                session.add(schools[code])
                session.flush()
            key = (code, row["class"])
            if key not in classes:
                classes[key] = SchoolClass(school_id=schools[code].id, school_year=year, code=row["class"],
                                           grade=int(row["grade"]))
                session.add(classes[key])
                session.flush()
            session.add(Student(personal_id=row["personal_id"], full_name=row["full_name"],
                                school_id=schools[code].id, class_id=classes[key].id, gender="", ethnicity="",
                                status="Đang học"))
        session.commit()
    return {"roster_schools": len(schools), "roster_classes": len(classes), "roster_students": len(rows)}
