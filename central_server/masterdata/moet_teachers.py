"""Teachers from the MOET education database's staff export (cán bộ, giáo viên) for one school.

A teacher is identified by the 12-digit personal id (CCCD); a teacher already at the school without one
(created by hand, by staff code only) is matched by the staff code and gets the id. "moved": the
teacher is recorded at another school and moves to this one. Rows that are invalid (bad id, missing name,
unknown or other school, duplicate in the file, staff code of another teacher) are skipped: `apply`
writes the valid rows only (`IMPORTER.all_or_nothing` is false).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from central_server.core.tables import User

from . import moet_import as mi
from .access import TEACHER_TRANSFER_REFUSED, may_take_from_other_school
from .tables import ClassTeacher, School, SchoolClass, Teacher

HEADERS: dict[str, tuple[str, ...]] = {
    "staff_code": ("mã cán bộ", "mã giáo viên", "mã gv", "mã cb", "mã cbgv", "mã cán bộ giáo viên",
                   "mã cán bộ, giáo viên", "mã nhân sự", "mã nhân viên"),
    "full_name": ("họ tên", "họ và tên", "họ và tên giáo viên", "họ tên giáo viên", "họ và tên cán bộ",
                  "họ tên cán bộ"),
    "personal_id": ("số định danh cá nhân", "mã định danh cá nhân", "số định danh", "mã định danh", "số cccd",
                    "cccd", "số căn cước công dân", "số căn cước", "căn cước công dân", "số cccd/cmnd",
                    "cccd/cmnd"),
    "birth_date": ("ngày sinh", "ngày tháng năm sinh"),
    "gender": ("giới tính",),
    "subject": ("môn dạy", "môn giảng dạy", "môn dạy chính", "môn học", "bộ môn"),
    "school_code": ("mã trường", "mã đơn vị"),
    "email": ("email", "e-mail", "địa chỉ email", "thư điện tử"),
    "phone": ("số điện thoại", "điện thoại", "điện thoại di động", "sđt", "số đt"),
}
REQUIRED = ("staff_code", "full_name", "personal_id")
FIELD_LABELS = {"staff_code": "Mã cán bộ", "full_name": "Họ và tên", "personal_id": "Số định danh cá nhân",
                "birth_date": "Ngày sinh", "gender": "Giới tính", "subject": "Môn dạy", "school_code": "Mã trường",
                "email": "Email", "phone": "Số điện thoại"}
OPTIONAL = ("birth_date", "gender", "subject", "email", "phone")  # written only when the file has the column
STAFF_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
EARLIEST_BIRTH = dt.date(1940, 1, 1)


def _staff_code(value: Any, errors: list[str]) -> str:
    code = mi.text(value).replace(" ", "")
    if not code:
        errors.append("Thiếu mã cán bộ.")
    elif not STAFF_CODE_RE.fullmatch(code):
        errors.append("Mã cán bộ chỉ gồm chữ không dấu, chữ số và . _ - (tối đa 64 ký tự).")
    return code


def _email(value: Any, errors: list[str]) -> str:
    email = mi.text(value).lower()
    if email and (len(email) > 254 or not EMAIL_RE.fullmatch(email)):
        errors.append("Email không hợp lệ.")
    return email


def _phone(value: Any, errors: list[str]) -> str:
    digits = re.sub(r"[\s.()-]", "", mi.text(value))
    if isinstance(value, int | float) and digits.isdigit() and len(digits) == 9:
        digits = "0" + digits  # Excel dropped the leading zero of a number-formatted phone number
    if not digits:
        return ""
    m = re.fullmatch(r"(?:\+?84|0)([0-9]{9})", digits)
    if m is None:
        errors.append("Số điện thoại phải gồm 10 chữ số, bắt đầu bằng 0.")
        return digits[:20]
    return "0" + m.group(1)


def _subject(value: Any, errors: list[str]) -> str:
    subject = re.sub(r"\s+", " ", mi.text(value))
    if len(subject) > 100 or any(ch in subject for ch in "<>{}="):
        errors.append("Môn dạy không hợp lệ (tối đa 100 ký tự).")
    return subject


def _validate(row_number: int, raw: dict[str, Any]) -> mi.ParsedRow:
    errors: list[str] = []
    values: dict[str, Any] = {
        "personal_id": mi.personal_id(raw.get("personal_id"), errors),
        "full_name": mi.full_name(raw.get("full_name"), errors),
        "staff_code": _staff_code(raw.get("staff_code"), errors),
        "school_code": mi.text(raw.get("school_code"))[:32],
    }
    checks = {"birth_date": lambda v: mi.birth_date(v, errors, EARLIEST_BIRTH),
              "gender": lambda v: mi.gender(v, errors), "subject": lambda v: _subject(v, errors),
              "email": lambda v: _email(v, errors), "phone": lambda v: _phone(v, errors)}
    for key in OPTIONAL:
        if key in raw:  # the column exists: its value (even empty) is what the MOET database holds
            values[key] = checks[key](raw[key])
    return mi.ParsedRow(row_number, values, errors)


TEMPLATE = mi.Template("Cán bộ, giáo viên", HEADERS, REQUIRED, FIELD_LABELS, _validate)


@dataclass
class TeacherPreviewRow(mi.PreviewRow):
    staff_code: str = ""
    subject: str = ""


def _check_school(row: mi.ParsedRow, school: School, known: set[str]) -> None:
    code = row.values["school_code"]
    if not code or code == school.code:
        return
    if code not in known:
        row.errors.append(f"Không tìm thấy trường có mã {code}.")
    else:
        row.errors.append(f"Dòng thuộc trường {code}, không phải trường đang nhập ({school.code}).")


def _match(session: Session, school: School, rows: list[mi.ParsedRow]
           ) -> tuple[dict[str, Teacher], dict[str, Teacher]]:
    """Teachers the valid rows refer to: by personal id (any school), by staff code (this school)."""
    valid = [r.values for r in rows if not r.errors]
    pids = [v["personal_id"] for v in valid]
    codes = [v["staff_code"] for v in valid]
    by_pid = {t.personal_id: t for t in session.scalars(select(Teacher).where(Teacher.personal_id.in_(pids)))} \
        if pids else {}
    by_code = {t.staff_code: t for t in session.scalars(select(Teacher).where(
        Teacher.school_id == school.id, Teacher.staff_code.in_(codes)))} if codes else {}
    return by_pid, by_code


def _changes(teacher: Teacher, v: dict[str, Any]) -> dict[str, list[Any]]:
    fields = ("personal_id", "full_name", "staff_code", *[k for k in OPTIONAL if k in v])
    return {f: [mi.plain(getattr(teacher, f)), mi.plain(v[f])] for f in fields if getattr(teacher, f) != v[f]}


def preview(session: Session, school: School, school_year: str, rows: list[mi.ParsedRow], actor: User
            ) -> list[TeacherPreviewRow]:
    school_codes = dict(session.execute(select(School.id, School.code)).all())
    known = set(school_codes.values())
    for r in rows:
        if not r.errors:
            _check_school(r, school, known)
    mi.mark_duplicates(rows, "personal_id", "Trùng số định danh với dòng {row}.")
    mi.mark_duplicates(rows, "staff_code", "Trùng mã cán bộ với dòng {row}.")
    by_pid, by_code = _match(session, school, rows)
    out: list[TeacherPreviewRow] = []
    for r in rows:
        v = r.values
        common = dict(row_number=r.row_number, personal_id=v["personal_id"], full_name=v["full_name"],
                      staff_code=v["staff_code"], subject=v.get("subject", ""))
        teacher = by_pid.get(v["personal_id"])
        holder = by_code.get(v["staff_code"])
        if not r.errors and teacher is None and holder is not None and holder.personal_id is None:
            teacher = holder  # recorded by hand with its staff code only: this row completes it
        if not r.errors and holder is not None and holder is not teacher:
            r.errors.append(f"Mã cán bộ {v['staff_code']} đã thuộc một giáo viên khác của trường.")
        if not r.errors and teacher is not None and teacher.school_id != school.id \
                and not may_take_from_other_school(actor, released=False):
            r.errors.append(TEACHER_TRANSFER_REFUSED)
        if r.errors:
            out.append(TeacherPreviewRow(kind="invalid", errors=r.errors, changes={}, **common))
        elif teacher is None:
            out.append(TeacherPreviewRow(kind="new", errors=[], changes={}, **common))
        else:
            changes = _changes(teacher, v)
            kind = "moved" if teacher.school_id != school.id else ("updated" if changes else "unchanged")
            out.append(TeacherPreviewRow(kind=kind, errors=[], changes=changes,
                                         from_school=school_codes.get(teacher.school_id), **common))
    return out


def _leave_school(session: Session, teacher: Teacher, school: School) -> None:
    """A moved teacher keeps no class, homeroom or account of the school they left."""
    old_classes = select(SchoolClass.id).where(SchoolClass.school_id != school.id)
    session.execute(delete(ClassTeacher).where(ClassTeacher.teacher_id == teacher.id,
                                               ClassTeacher.class_id.in_(old_classes)))
    session.execute(update(SchoolClass).where(SchoolClass.homeroom_teacher_id == teacher.id,
                                              SchoolClass.school_id != school.id)
                    .values(homeroom_teacher_id=None))
    account = session.get(User, teacher.user_id) if teacher.user_id else None
    if account is not None and account.school_id != school.id:
        teacher.user_id = None
    teacher.school_id = school.id


def apply(session: Session, school: School, school_year: str, rows: list[mi.ParsedRow],
          result: list[TeacherPreviewRow], *, today: dt.date, province_code: str) -> dict[str, int]:
    """Write the rows `result` does not mark invalid (the caller commits); invalid rows are counted, not written."""
    by_row = {r.row_number: r.values for r in rows}
    by_pid, by_code = _match(session, school, rows)
    for p in result:
        if p.kind == "invalid":
            continue
        v = by_row[p.row_number]
        fields = {k: v[k] for k in ("personal_id", "full_name", "staff_code", *OPTIONAL) if k in v}
        teacher = by_pid.get(p.personal_id) or by_code.get(p.staff_code)
        if teacher is None:
            session.add(Teacher(school_id=school.id, **fields))
            continue
        if p.kind == "moved":
            _leave_school(session, teacher, school)
        for k, val in fields.items():
            setattr(teacher, k, val)
    session.flush()
    return mi.summarise(result)


IMPORTER = mi.Importer("teachers", TEMPLATE, preview, apply, all_or_nothing=False)
