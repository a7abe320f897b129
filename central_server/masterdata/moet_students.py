"""Students from the MOET export C1-HocSinh: the template, the preview against the database, the write.

The whole file is refused while any row is invalid (`IMPORTER.all_or_nothing`): a class list is one unit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.control.service import UnknownSchool, request_erasure
from central_server.core.clock import local_today
from central_server.core.tables import User

from . import moet_import as mi
from .access import TRANSFER_REFUSED, may_take_from_other_school
from .tables import Enrolment, School, SchoolClass, Student

# canonical field -> accepted header titles (as `moet_import.norm_header` writes them)
HEADERS: dict[str, tuple[str, ...]] = {
    "personal_id": ("số định danh cá nhân", "mã định danh cá nhân", "số định danh", "mã định danh", "số cccd"),
    "full_name": ("họ tên", "họ và tên", "họ và tên học sinh", "họ tên học sinh"),
    "class_code": ("mã lớp", "lớp", "tên lớp"),
    "moet_code": ("mã học sinh", "mã hs"),
    "birth_date": ("ngày sinh",),
    "gender": ("giới tính",),
    "status": ("trạng thái hs", "trạng thái học sinh", "trạng thái"),
    "ethnicity": ("dân tộc",),
}
REQUIRED = ("personal_id", "full_name", "class_code")
FIELD_LABELS = {"personal_id": "Số định danh cá nhân", "full_name": "Họ tên", "class_code": "Mã lớp",
                "moet_code": "Mã học sinh", "birth_date": "Ngày sinh", "gender": "Giới tính",
                "status": "Trạng thái HS", "ethnicity": "Dân tộc"}
CLASS_CODE_RE = re.compile(r"^[0-9A-Za-zÀ-ỹ][0-9A-Za-zÀ-ỹ ._/-]{0,31}$")
EARLIEST_BIRTH = dt.date(1980, 1, 1)
UPDATABLE = ("full_name", "birth_date", "gender", "moet_code", "status", "ethnicity")


def _validate(row_number: int, raw: dict[str, Any]) -> mi.ParsedRow:
    errors: list[str] = []
    pid = mi.personal_id(raw.get("personal_id"), errors)
    name = mi.full_name(raw.get("full_name"), errors)
    klass = mi.text(raw.get("class_code"))
    if not CLASS_CODE_RE.fullmatch(klass):
        errors.append("Mã lớp không hợp lệ.")
    birth = mi.birth_date(raw.get("birth_date"), errors, EARLIEST_BIRTH)
    gender = mi.gender(raw.get("gender"), errors)
    values = {"personal_id": pid, "full_name": name, "class_code": klass, "birth_date": birth, "gender": gender,
              "moet_code": mi.text(raw.get("moet_code"))[:32] or None,
              "status": mi.text(raw.get("status"))[:64] or "Đang học", "ethnicity": mi.text(raw.get("ethnicity"))[:64]}
    return mi.ParsedRow(row_number, values, errors)


TEMPLATE = mi.Template("C1-HocSinh", HEADERS, REQUIRED, FIELD_LABELS, _validate)


def grade_of(class_code: str) -> int | None:
    m = re.match(r"^(\d{1,2})", class_code)
    return int(m.group(1)) if m and 1 <= int(m.group(1)) <= 12 else None


@dataclass
class StudentPreviewRow(mi.PreviewRow):
    class_code: str = ""
    from_class: str | None = None


def preview(session: Session, school: School, school_year: str, rows: list[mi.ParsedRow], actor: User
            ) -> list[StudentPreviewRow]:
    mi.mark_duplicates(rows, "personal_id", "Trùng số định danh với dòng {row}.")
    ids = [r.values["personal_id"] for r in rows if not r.errors]
    existing = {s.personal_id: s for s in session.scalars(select(Student).where(Student.personal_id.in_(ids)))} \
        if ids else {}
    class_ids = {s.class_id for s in existing.values() if s.class_id}
    classes = {c.id: c for c in session.scalars(select(SchoolClass).where(SchoolClass.id.in_(class_ids)))} \
        if class_ids else {}
    school_codes = dict(session.execute(select(School.id, School.code)).all())
    out: list[StudentPreviewRow] = []
    for r in rows:
        v = r.values
        common = dict(row_number=r.row_number, personal_id=v["personal_id"], full_name=v["full_name"],
                      class_code=v["class_code"])
        if r.errors:
            out.append(StudentPreviewRow(kind="invalid", errors=r.errors, changes={}, **common))
            continue
        current = existing.get(v["personal_id"])
        if current is None:
            out.append(StudentPreviewRow(kind="new", errors=[], changes={}, **common))
            continue
        if current.school_id != school.id and not may_take_from_other_school(actor, is_leaving(current.status)):
            out.append(StudentPreviewRow(kind="invalid", errors=[TRANSFER_REFUSED], changes={}, **common))
            continue
        cur_class = classes.get(current.class_id) if current.class_id else None
        same_place = (current.school_id == school.id and cur_class is not None
                      and cur_class.code == v["class_code"] and cur_class.school_year == school_year)
        changes = {f: [mi.plain(getattr(current, f)), mi.plain(v[f])] for f in UPDATABLE
                   if getattr(current, f) != v[f] and not (f == "moet_code" and v[f] is None)}
        kind = "moved" if not same_place else ("updated" if changes else "unchanged")
        out.append(StudentPreviewRow(kind=kind, errors=[], changes=changes,
                                     from_school=school_codes.get(current.school_id),
                                     from_class=cur_class.code if cur_class else None, **common))
    return out


# "Trạng thái HS" values after which a school must no longer hold the student's face templates (Law 91/2025:
# delete on transfer-out, withdrawal or graduation), compared without accents and case
LEAVING_STATUSES = ("chuyen di", "thoi hoc", "tot nghiep", "da tot nghiep", "hoan thanh chuong trinh")


def is_leaving(status: str | None) -> bool:
    return mi.fold(status or "").strip().lower() in LEAVING_STATUSES


def _request_erasure(session: Session, school_code: str, personal_id: str, why: str, counts: dict[str, int]) -> None:
    """Ask the school's edge agent to drop the student's templates (queued with this import's transaction).
    A school with no registered edge key has no edge agent, so nothing is held there."""
    try:
        request_erasure(session, school_code, personal_id, f"moet-import-{why}-{personal_id}-{local_today()}",
                        actor_name=f"import:{school_code}")
        counts["erasures_requested"] += 1
    except UnknownSchool:
        counts["erasures_no_edge"] += 1


def apply(session: Session, school: School, school_year: str, rows: list[mi.ParsedRow],
          result: list[StudentPreviewRow], *, today: dt.date, province_code: str) -> dict[str, int]:
    """Write the rows `result` does not mark invalid (the caller commits); classes are created as needed.

    A student who leaves a school (moved to another one, or a status such as "Chuyển đi", "Thôi học",
    "Tốt nghiệp") gets an erasure request queued for that school's edge agent in the same transaction."""
    classes = {c.code: c for c in session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == school_year))}
    by_pid = {r.values["personal_id"]: r.values for r in rows if not r.errors}
    existing = {s.personal_id: s for s in session.scalars(select(Student).where(
        Student.personal_id.in_(list(by_pid))))} if by_pid else {}
    counts = mi.summarise(result)
    counts["classes_created"] = 0
    counts["erasures_requested"] = counts["erasures_no_edge"] = 0
    for p in result:
        if p.kind == "invalid":
            continue
        v = by_pid[p.personal_id]
        klass = classes.get(v["class_code"])
        if klass is None:
            klass = SchoolClass(school_id=school.id, school_year=school_year, code=v["class_code"],
                                grade=grade_of(v["class_code"]))
            session.add(klass)
            session.flush()
            classes[klass.code] = klass
            counts["classes_created"] += 1
        fields = {k: v[k] for k in ("full_name", "birth_date", "gender", "status", "ethnicity")}
        if v["moet_code"]:
            fields["moet_code"] = v["moet_code"]
        student = existing.get(p.personal_id)
        if student is None:
            student = Student(personal_id=p.personal_id, school_id=school.id, class_id=klass.id, **fields)
            session.add(student)
            session.flush()
            session.add(Enrolment(student_id=student.id, school_id=school.id, class_id=klass.id,
                                  province_code=province_code, started_on=today))
            continue
        if p.kind == "moved":
            old = session.get(School, student.school_id)
            if old is not None and not is_leaving(student.status):
                _request_erasure(session, old.code, p.personal_id, "moved", counts)
        elif is_leaving(fields["status"]) and not is_leaving(student.status):
            _request_erasure(session, school.code, p.personal_id, "left", counts)
        for k, val in fields.items():
            setattr(student, k, val)
        if p.kind == "moved":
            for open_row in session.scalars(select(Enrolment).where(Enrolment.student_id == student.id,
                                                                    Enrolment.ended_on.is_(None))):
                open_row.ended_on = today
            student.school_id, student.class_id = school.id, klass.id
            session.add(Enrolment(student_id=student.id, school_id=school.id, class_id=klass.id,
                                  province_code=province_code, started_on=today))
    session.flush()
    return counts


IMPORTER = mi.Importer("students", TEMPLATE, preview, apply, all_or_nothing=True)
