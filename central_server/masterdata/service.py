"""Master-data logic without HTTP: province codes by date, schools, teachers, queries scoped to a user."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central_server.core.names import collation_key, sort_by_name
from central_server.core.tables import User

from .access import visible_class_ids, visible_school_ids
from .tables import ClassTeacher, Province, School, SchoolClass, Student, Teacher


def province_code_on(session: Session, day: dt.date, code: str = "94") -> str:
    """The code a record of `day` carries: follows `replaced_by` once `valid_to` has passed (94 → 92)."""
    seen = set()
    while code not in seen:
        seen.add(code)
        row = session.get(Province, code)
        if row is None or row.valid_to is None or day <= row.valid_to or row.replaced_by is None:
            return code
        code = row.replaced_by
    return code


def school_year_of(day: dt.date, start_month: int = 8) -> str:
    first = day.year if day.month >= start_month else day.year - 1
    return f"{first}-{first + 1}"


def create_school(session: Session, code: str, name: str, *, level: str = "THPT", province_code: str = "92",
                  former_province_code: str | None = "94", commune_code: str | None = None) -> School:
    school = School(code=code, name=name, level=level, province_code=province_code,
                    former_province_code=former_province_code, commune_code=commune_code)
    session.add(school)
    session.flush()
    return school


def create_teacher(session: Session, school_id: int, staff_code: str, full_name: str,
                   user: User | None = None, class_ids: list[int] = ()) -> Teacher:
    teacher = Teacher(school_id=school_id, staff_code=staff_code, full_name=full_name,
                      user_id=user.id if user else None)
    session.add(teacher)
    session.flush()
    for cid in class_ids:
        session.add(ClassTeacher(class_id=cid, teacher_id=teacher.id))
    session.flush()
    return teacher


def list_schools(session: Session, user: User) -> list[School]:
    q = select(School).order_by(School.name)
    ids = visible_school_ids(session, user)
    if ids is not None:
        q = q.where(School.id.in_(ids))
    return list(session.scalars(q))


def list_classes(session: Session, user: User, school_id: int, school_year: str | None = None
                 ) -> list[tuple[SchoolClass, int]]:
    """(class, number of students) for the classes of `school_id` the user may see."""
    q = (select(SchoolClass, func.count(Student.id)).outerjoin(Student, Student.class_id == SchoolClass.id)
         .where(SchoolClass.school_id == school_id).group_by(SchoolClass.id)
         .order_by(SchoolClass.grade, SchoolClass.code))
    if school_year:
        q = q.where(SchoolClass.school_year == school_year)
    ids = visible_class_ids(session, user)
    if ids is not None:
        q = q.where(SchoolClass.id.in_(ids))
    return [(c, n) for c, n in session.execute(q).all()]


@dataclass(frozen=True)
class ClassOption:
    """A class as a picker shows it: "10A1 · THPT Lê Lợi · 2026-2027"."""

    id: int
    label: str
    code: str
    school_year: str


def class_code_key(code: str) -> tuple:
    """Natural order of class codes: 10A2 before 10A10, grade 10 before 11."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.findall(r"\d+|\D+", code))


def class_groups(session: Session, classes: list[SchoolClass]) -> list[tuple[int, str, list[ClassOption]]]:
    """(school id, school name, its classes) for a class picker filtered by school: schools in Vietnamese order,
    newest school year first, then class codes in natural order."""
    names = dict(session.execute(select(School.id, School.name).where(
        School.id.in_({c.school_id for c in classes} or {-1}))).all())
    groups: dict[int, list[ClassOption]] = {}
    for c in sorted(classes, key=lambda c: (-int(c.school_year[:4]) if c.school_year[:4].isdigit() else 0,
                                            class_code_key(c.code))):
        groups.setdefault(c.school_id, []).append(
            ClassOption(c.id, f"{c.code} · {names.get(c.school_id, '?')} · {c.school_year}", c.code, c.school_year))
    return sorted(((sid, names.get(sid, "?"), opts) for sid, opts in groups.items()),
                  key=lambda g: collation_key(g[1]))


def list_students(session: Session, class_id: int) -> list[Student]:
    return sort_by_name(session.scalars(select(Student).where(Student.class_id == class_id)))
