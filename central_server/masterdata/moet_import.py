"""Import students from the MOET education database's Excel export (C1-HocSinh) by header name.

`parse_workbook(bytes)` finds the header row by the column titles (not their position), `preview(...)`
classifies every row as new / updated / moved / unchanged / invalid against the database, and
`apply(...)` writes the whole file in the caller's transaction — only when no row is invalid.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import Enrolment, School, SchoolClass, Student

MAX_ROWS = 20_000
HEADER_SCAN_ROWS = 25

# canonical field -> accepted header titles (normalised: NFC, lower case, single spaces, no "(*)")
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
GENDERS = {"nam": "Nam", "nữ": "Nữ", "nu": "Nữ"}
CLASS_CODE_RE = re.compile(r"^[0-9A-Za-zÀ-ỹ][0-9A-Za-zÀ-ỹ ._/-]{0,31}$")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not Excel, no header row, too many rows); message in Vietnamese."""


def norm_header(value: Any) -> str:
    text = unicodedata.normalize("NFC", str(value or "")).lower()
    text = re.sub(r"\(\*\)|\*", "", text)
    return re.sub(r"\s+", " ", text).strip(" :")


@dataclass
class ParsedRow:
    row_number: int
    values: dict[str, Any]
    errors: list[str] = field(default_factory=list)


def _find_header(rows: list[tuple]) -> tuple[int, dict[str, int]] | None:
    lookup = {alias: key for key, aliases in HEADERS.items() for alias in aliases}
    for index, row in enumerate(rows):
        columns: dict[str, int] = {}
        for col, cell in enumerate(row):
            key = lookup.get(norm_header(cell))
            if key and key not in columns:
                columns[key] = col
        if all(k in columns for k in REQUIRED):
            return index, columns
    return None


def parse_workbook(data: bytes) -> list[ParsedRow]:
    """Rows of the first sheet that has the required headers; ImportFileError for an unreadable file."""
    from openpyxl import load_workbook

    if not data:
        raise ImportFileError("Tệp rỗng.")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ImportFileError(f"Tệp không phải bảng tính Excel (.xlsx) hợp lệ ({type(exc).__name__}).") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for corrupt XML
        raise ImportFileError(f"Không đọc được tệp Excel ({type(exc).__name__}).") from None
    try:
        for ws in wb.worksheets:
            head = list(ws.iter_rows(min_row=1, max_row=HEADER_SCAN_ROWS, values_only=True))
            found = _find_header(head)
            if found is None:
                continue
            header_index, columns = found
            return _read_rows(ws, header_index + 2, columns)
    finally:
        wb.close()
    missing = ", ".join(FIELD_LABELS[k] for k in REQUIRED)
    raise ImportFileError(f"Không tìm thấy dòng tiêu đề có các cột bắt buộc: {missing}.")


def _read_rows(ws, first_row: int, columns: dict[str, int]) -> list[ParsedRow]:
    out: list[ParsedRow] = []
    for offset, row in enumerate(ws.iter_rows(min_row=first_row, values_only=True)):
        if row is None or all(c is None or str(c).strip() == "" for c in row):
            continue
        if len(out) >= MAX_ROWS:
            raise ImportFileError(f"Tệp có quá {MAX_ROWS} dòng dữ liệu.")
        raw = {key: (row[col] if col < len(row) else None) for key, col in columns.items()}
        out.append(_validate(first_row + offset, raw))
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def _validate(row_number: int, raw: dict[str, Any]) -> ParsedRow:
    errors: list[str] = []
    pid_raw = raw.get("personal_id")
    pid = _text(pid_raw).replace(" ", "")
    if isinstance(pid_raw, int | float) and pid.isdigit() and len(pid) < 12:
        pid = pid.zfill(12)  # Excel dropped the leading zero of a number-formatted id
    if not re.fullmatch(r"[0-9]{12}", pid):
        errors.append("Số định danh cá nhân phải gồm đúng 12 chữ số.")
    name = re.sub(r"\s+", " ", _text(raw.get("full_name")))
    if not name:
        errors.append("Thiếu họ tên.")
    elif len(name) > 200 or any(ch in name for ch in "<>;{}=") or any(ch.isdigit() for ch in name):
        errors.append("Họ tên không hợp lệ.")
    klass = _text(raw.get("class_code"))
    if not CLASS_CODE_RE.fullmatch(klass):
        errors.append("Mã lớp không hợp lệ.")
    birth = _date(raw.get("birth_date"), errors)
    gender_text = _text(raw.get("gender"))
    gender = GENDERS.get(gender_text.lower(), None if gender_text else "")
    if gender is None:
        errors.append("Giới tính phải là Nam hoặc Nữ.")
    values = {"personal_id": pid, "full_name": name, "class_code": klass, "birth_date": birth,
              "gender": gender or "", "moet_code": _text(raw.get("moet_code"))[:32] or None,
              "status": _text(raw.get("status"))[:64] or "Đang học", "ethnicity": _text(raw.get("ethnicity"))[:64]}
    return ParsedRow(row_number, values, errors)


def _date(value: Any, errors: list[str]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.datetime.strptime(_text(value), "%d/%m/%Y").date()
        except ValueError:
            errors.append("Ngày sinh phải có dạng dd/mm/yyyy.")
            return None
    if not dt.date(1980, 1, 1) <= day <= dt.date.today():
        errors.append("Ngày sinh nằm ngoài khoảng hợp lệ.")
        return None
    return day


def grade_of(class_code: str) -> int | None:
    m = re.match(r"^(\d{1,2})", class_code)
    return int(m.group(1)) if m and 1 <= int(m.group(1)) <= 12 else None


@dataclass
class PreviewRow:
    row_number: int
    kind: str  # new | updated | moved | unchanged | invalid
    personal_id: str
    full_name: str
    class_code: str
    errors: list[str]
    changes: dict[str, list[Any]]  # field -> [old, new]
    from_school: str | None = None
    from_class: str | None = None


def preview(session: Session, school: School, school_year: str, rows: list[ParsedRow]) -> list[PreviewRow]:
    seen: dict[str, int] = {}
    for r in rows:
        pid = r.values["personal_id"]
        if pid in seen and not r.errors:
            r.errors.append(f"Trùng số định danh với dòng {seen[pid]}.")
        seen.setdefault(pid, r.row_number)
    ids = [r.values["personal_id"] for r in rows if not r.errors]
    existing = {s.personal_id: s for s in session.scalars(select(Student).where(Student.personal_id.in_(ids)))} \
        if ids else {}
    class_ids = {s.class_id for s in existing.values() if s.class_id}
    classes = {c.id: c for c in session.scalars(select(SchoolClass).where(SchoolClass.id.in_(class_ids)))} \
        if class_ids else {}
    school_codes = dict(session.execute(select(School.id, School.code)).all())
    out: list[PreviewRow] = []
    for r in rows:
        v = r.values
        if r.errors:
            out.append(PreviewRow(r.row_number, "invalid", v["personal_id"], v["full_name"], v["class_code"],
                                  r.errors, {}))
            continue
        current = existing.get(v["personal_id"])
        if current is None:
            out.append(PreviewRow(r.row_number, "new", v["personal_id"], v["full_name"], v["class_code"], [], {}))
            continue
        cur_class = classes.get(current.class_id) if current.class_id else None
        same_place = (current.school_id == school.id and cur_class is not None
                      and cur_class.code == v["class_code"] and cur_class.school_year == school_year)
        changes = {f: [_plain(getattr(current, f)), _plain(v[f])]
                   for f in ("full_name", "birth_date", "gender", "moet_code", "status", "ethnicity")
                   if getattr(current, f) != v[f] and not (f == "moet_code" and v[f] is None)}
        kind = "moved" if not same_place else ("updated" if changes else "unchanged")
        out.append(PreviewRow(r.row_number, kind, v["personal_id"], v["full_name"], v["class_code"], [], changes,
                              from_school=school_codes.get(current.school_id),
                              from_class=cur_class.code if cur_class else None))
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def summarise(rows: list[PreviewRow]) -> dict[str, int]:
    counts = {k: 0 for k in ("new", "updated", "moved", "unchanged", "invalid")}
    for r in rows:
        counts[r.kind] += 1
    return counts


def apply(session: Session, school: School, school_year: str, rows: list[ParsedRow], today: dt.date,
          province_code: str) -> dict[str, int]:
    """Write every row (caller commits). Raises ValueError if any row is invalid: nothing is written then."""
    result = preview(session, school, school_year, rows)
    if any(p.kind == "invalid" for p in result):
        raise ValueError("invalid rows")
    classes = {c.code: c for c in session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == school_year))}
    by_pid = {r.values["personal_id"]: r.values for r in rows}
    existing = {s.personal_id: s for s in session.scalars(select(Student).where(
        Student.personal_id.in_(list(by_pid))))}
    counts = summarise(result)
    counts["classes_created"] = 0
    for p in result:
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
