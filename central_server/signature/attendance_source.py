"""Signable attendance documents built from the attendance module's finalised marks (read only).

* A **period** (date + tiết): one row per student of the class with the finalised status of that period
  (a whole-session mark, period 0, stands in for a student without a mark for the period) and the note the
  teacher gave when finalising. Refused unless every student's mark is finalised.
* A **month**: one row per student with the buổi attended, absent P / K and their total, from the derived
  half-day sessions; refused unless the month is over and every session in it is finalised.

The document records where it came from (``content["source"]``), so that later corrections of the marks are
noticed: a locked or signed version never changes (its PDF stays verifiable); an admin unlock makes a new
draft version, which ``refresh`` brings up to date cell by cell (each change logged, old and new value).
Only a teacher of the class creates the document (the creator is the one who signs it, field ``GiaoVien``);
a school admin may preview the table of any class of their school, the province roles of any class.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from central_server.attendance.tables import AttendanceHistory, AttendanceMark, AttendanceSession
from central_server.core.audit import audit
from central_server.core.names import name_key
from central_server.core.params import ROW_ID_MAX
from central_server.core.tables import User
from central_server.masterdata import access
from central_server.masterdata.tables import School, SchoolClass, Student

from . import service
from .errors import SignatureFailure
from .tables import SignatureChange, SignatureDocument

STATUS_LABELS = {"present": "Có mặt", "late": "Đi muộn", "left_early": "Về sớm", "P": "Vắng có phép (P)",
                 "K": "Vắng không phép (K)", "absent_proposed": "Vắng (chưa xác nhận)"}
SESSION_LABELS = {"morning": "sáng", "afternoon": "chiều", "day": "cả ngày"}
PERIOD_COLUMNS = ["STT", "Họ và tên", "Ngày sinh", "Trạng thái", "Ghi chú"]
MONTH_COLUMNS = ["STT", "Họ và tên", "Có mặt (buổi)", "Vắng P (buổi)", "Vắng K (buổi)", "Tổng vắng (buổi)",
                 "Ghi chú"]
MAX_NAMES = 5


class AttendanceSourceError(SignatureFailure):
    """The attendance cannot (yet) be signed: codes ``not_found``, ``forbidden``, ``not_finalised``,
    ``no_marks``, ``ambiguous``, ``bad_input``, ``stale``."""


@dataclass(frozen=True)
class Built:
    klass: SchoolClass
    school: School
    title: str
    content: service.Content
    source: dict


def _names(students: list[Student]) -> str:
    names = ", ".join(s.full_name for s in students[:MAX_NAMES])
    return names + (f" và {len(students) - MAX_NAMES} học sinh khác" if len(students) > MAX_NAMES else "")


def check_class(session: Session, user: User, class_id: int, create: bool = False) -> SchoolClass:
    """The class, if ``user`` may read (or, with ``create``, sign) its attendance."""
    klass = session.get(SchoolClass, class_id) if 1 <= class_id <= ROW_ID_MAX else None
    if klass is None:
        raise AttendanceSourceError("Không tìm thấy lớp.", "not_found")
    if user.role == "teacher":
        taught = access.visible_class_ids(session, user) or set()
        if klass.id not in taught or klass.school_id != user.school_id:
            raise AttendanceSourceError(f"Bạn không phải giáo viên của lớp {klass.code}; chỉ giáo viên của lớp "
                                        "được lập và ký bảng điểm danh của lớp.", "forbidden")
        return klass
    if create:
        raise AttendanceSourceError("Bảng điểm danh do giáo viên của lớp lập và ký số; quản trị trường chỉ xem "
                                    "trước hoặc mở khoá.", "forbidden")
    if user.role == "school_admin" and klass.school_id == user.school_id:
        return klass
    if user.role in ("province_admin", "province_staff"):
        return klass
    raise AttendanceSourceError("Lớp này thuộc trường khác.", "forbidden")


def _roster(session: Session, klass: SchoolClass, extra_ids: set[int]) -> list[Student]:
    """Students of the class (and anyone marked in it), in class-list order (`core.names.name_key`)."""
    q = select(Student).where(or_(Student.class_id == klass.id, Student.id.in_(extra_ids or {-1})))
    return sorted(session.scalars(q), key=lambda s: (name_key(s.full_name), s.id))


def build_period(session: Session, klass: SchoolClass, day: dt.date, period: int,
                 session_name: str | None = None) -> Built:
    if not 1 <= period <= 10:
        raise AttendanceSourceError("Tiết học phải từ 1 đến 10.", "bad_input")
    q = select(AttendanceMark).where(AttendanceMark.class_id == klass.id, AttendanceMark.day == day,
                                     AttendanceMark.period.in_((0, period)))
    if session_name:
        q = q.where(AttendanceMark.session == session_name)
    marks = list(session.scalars(q))
    sessions = {m.session for m in marks if m.period == period}
    when = f"tiết {period} ngày {day:%d/%m/%Y}"
    if not sessions:
        raise AttendanceSourceError(f"Lớp {klass.code} chưa có điểm danh {when}.", "no_marks")
    if len(sessions) > 1:
        raise AttendanceSourceError(f"Lớp {klass.code} có điểm danh {when} ở nhiều buổi; hãy chọn buổi.",
                                    "ambiguous")
    sess = sessions.pop()
    by_student: dict[int, AttendanceMark] = {}
    for m in sorted(marks, key=lambda m: m.period):  # the period's own mark wins over a whole-session mark
        if m.session == sess:
            by_student[m.student_id] = m
    students = _roster(session, klass, {m.student_id for m in marks if m.period == period})
    open_ = [s for s in students if s.id not in by_student or by_student[s.id].stage != "finalised"]
    if open_:
        raise AttendanceSourceError(
            f"Điểm danh {when} của lớp {klass.code} chưa được chốt: {len(open_)} học sinh chưa có điểm danh đã "
            f"chốt ({_names(open_)}). Chỉ ký được bảng điểm danh đã chốt.", "not_finalised")
    events = [by_student[s.id].event_id for s in students]
    notes = dict(session.execute(select(AttendanceHistory.event_id, AttendanceHistory.reason)
                                 .where(AttendanceHistory.event_id.in_(events))).all())
    rows, counts = [], {}
    for i, s in enumerate(students, 1):
        m = by_student[s.id]
        counts[m.status] = counts.get(m.status, 0) + 1
        note = (notes.get(m.event_id) or "").strip()
        if m.period == 0:
            note = "; ".join(x for x in ("Điểm danh cả buổi", note) if x)
        rows.append([str(i), s.full_name, f"{s.birth_date:%d/%m/%Y}" if s.birth_date else "",
                     STATUS_LABELS.get(m.status, m.status), note])
    school = session.get(School, klass.school_id)
    info = [f"Trường: {school.name} — Lớp: {klass.code} — Năm học: {klass.school_year}",
            f"Ngày {day:%d/%m/%Y}, buổi {SESSION_LABELS.get(sess, sess)}, tiết {period}. Sĩ số: {len(students)}.",
            "Tổng hợp: " + "; ".join(f"{STATUS_LABELS.get(k, k)}: {v}" for k, v in sorted(counts.items())) + "."]
    title = f"BẢNG ĐIỂM DANH TIẾT {period} — LỚP {klass.code} — NGÀY {day:%d/%m/%Y}"
    source = {"type": "period", "class_id": klass.id, "day": day.isoformat(), "period": period, "session": sess}
    return Built(klass, school, title, service.Content(info, PERIOD_COLUMNS, rows), source)


def month_range(month: str) -> tuple[dt.date, dt.date]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = dt.date(year, mon, 1)
    except ValueError:
        raise AttendanceSourceError("Tháng phải có dạng YYYY-MM (ví dụ 2025-09).", "bad_input") from None
    return first, first.replace(day=calendar.monthrange(year, mon)[1])


def build_month(session: Session, klass: SchoolClass, month: str, today: dt.date | None = None) -> Built:
    first, last = month_range(month)
    label = f"tháng {first:%m/%Y}"
    if today is not None and last >= today:  # the month's last day is still under way
        raise AttendanceSourceError(f"{label.capitalize()} chưa kết thúc; chỉ ký được bảng điểm danh của "
                                    "tháng đã kết thúc và đã chốt.", "not_finalised")
    rows_ = list(session.scalars(select(AttendanceSession).where(
        AttendanceSession.class_id == klass.id, AttendanceSession.day.between(first, last))))
    if not rows_:
        raise AttendanceSourceError(f"Lớp {klass.code} chưa có điểm danh {label}.", "no_marks")
    open_ids = {r.student_id for r in rows_ if not r.finalised}
    students = _roster(session, klass, {r.student_id for r in rows_})
    if open_ids:
        open_ = [s for s in students if s.id in open_ids]
        days = sorted({r.day for r in rows_ if not r.finalised})
        raise AttendanceSourceError(
            f"Điểm danh {label} của lớp {klass.code} chưa được chốt hết: {len(days)} ngày còn buổi chưa chốt "
            f"(từ {days[0]:%d/%m}), {len(open_)} học sinh ({_names(open_)}).", "not_finalised")
    per: dict[int, list[AttendanceSession]] = {}
    for r in sorted(rows_, key=lambda r: (r.day, r.session)):
        per.setdefault(r.student_id, []).append(r)
    rows, tot = [], {"present": 0, "P": 0, "K": 0}
    for i, s in enumerate(students, 1):
        mine = per.get(s.id, [])
        attended = sum(r.status in ("present", "partial") for r in mine)
        p = sum(r.status == "P" for r in mine)
        k = sum(r.status == "K" for r in mine)
        tot["present"] += attended
        tot["P"] += p
        tot["K"] += k
        absent = [f"{r.day:%d/%m} {SESSION_LABELS.get(r.session, r.session)} ({r.status})" for r in mine
                  if r.status in ("P", "K")]
        note = ("Vắng: " + ", ".join(absent)) if absent else ""
        unconfirmed = sum(r.status == "unconfirmed" for r in mine)
        if unconfirmed:
            note = "; ".join(x for x in (note, f"{unconfirmed} buổi không xác định") if x)
        rows.append([str(i), s.full_name, str(attended), str(p), str(k), str(p + k), note])
    school = session.get(School, klass.school_id)
    days = sorted({r.day for r in rows_})
    info = [f"Trường: {school.name} — Lớp: {klass.code} — Năm học: {klass.school_year}",
            f"Tháng {first:%m/%Y}: {len(days)} ngày học có điểm danh (từ {days[0]:%d/%m} đến {days[-1]:%d/%m}). "
            f"Sĩ số: {len(students)}.",
            f"Tổng số buổi: có mặt {tot['present']}; vắng có phép (P) {tot['P']}; vắng không phép (K) {tot['K']}. "
            "Buổi vắng tính theo Thông tư 22/2021/TT-BGDĐT (cả P và K)."]
    title = f"BẢNG TỔNG HỢP ĐIỂM DANH THÁNG {first:%m/%Y} — LỚP {klass.code}"
    source = {"type": "month", "class_id": klass.id, "month": f"{first:%Y-%m}"}
    return Built(klass, school, title, service.Content(info, MONTH_COLUMNS, rows), source)


def build_from_source(session: Session, source: dict) -> Built:
    klass = session.get(SchoolClass, source["class_id"])
    if klass is None:
        raise AttendanceSourceError("Lớp của bảng điểm danh không còn tồn tại.", "not_found")
    if source["type"] == "period":
        return build_period(session, klass, dt.date.fromisoformat(source["day"]), source["period"],
                            source["session"])
    return build_month(session, klass, source["month"])


def create_document(session: Session, user: User, built: Built) -> SignatureDocument:
    """A signature document (kind ``attendance``) through the normal workflow: draft → lock → teacher signs."""
    doc = service.create(session, user, "attendance", built.title, built.school.name, built.content,
                         school_id=built.school.id)
    ver = service.current_version(session, doc)
    ver.content = {**ver.content, "source": built.source}
    audit(session, user, "signature.attendance_create", f"signature_document:{doc.id}", built.source)
    return doc


def differences(session: Session, content: dict) -> list[dict]:
    """How the attendance data now differs from ``content`` (empty: still the same)."""
    fresh = build_from_source(session, content["source"]).content
    if fresh.columns != content["columns"] or len(fresh.rows) != len(content["rows"]):
        return [{"location": "rows", "old": f"{len(content['rows'])} dòng", "new": f"{len(fresh.rows)} dòng"}]
    out = [{"location": f"rows[{r}][{c}]", "old": old, "new": new}
           for r, (a, b) in enumerate(zip(content["rows"], fresh.rows, strict=True))
           for c, (old, new) in enumerate(zip(a, b, strict=True)) if old != new]
    if fresh.info_lines != content["info_lines"]:
        out.append({"location": "info_lines", "old": " | ".join(content["info_lines"]),
                    "new": " | ".join(fresh.info_lines)})
    return out


def ensure_current(session: Session, content: dict) -> None:
    """Refuse to lock or sign a table that no longer matches the finalised attendance."""
    if "source" not in content:
        return
    diff = differences(session, content)
    if diff:
        raise AttendanceSourceError(f"Dữ liệu điểm danh đã thay đổi ({len(diff)} chỗ) sau khi lập bảng; hãy cập "
                                    "nhật bảng từ dữ liệu điểm danh trước khi khoá / ký.", "stale")


def refresh(session: Session, user: User, doc_id: str) -> list[dict]:
    """Bring the current draft version up to date with the attendance data; every change is logged."""
    doc, ver = service.load(session, user, doc_id)
    if "source" not in ver.content:
        raise AttendanceSourceError("Tài liệu này không lập từ dữ liệu điểm danh.", "bad_input")
    check_class(session, user, ver.content["source"]["class_id"], create=True)
    if ver.status != "draft":
        raise AttendanceSourceError("Phiên bản này đã khoá hoặc đã ký và không được sửa; cần quản trị trường mở "
                                    "khoá để tạo phiên bản mới rồi cập nhật.", "locked")
    diff = differences(session, ver.content)
    if not diff:
        return []
    fresh = build_from_source(session, ver.content["source"])
    for d in diff:
        session.add(SignatureChange(document_id=doc.id, version=ver.version, action="edit", location=d["location"],
                                    old_value=d["old"], new_value=d["new"], reason="Cập nhật từ dữ liệu điểm danh",
                                    changed_by=user.id))
    ver.content = {**fresh.content.as_dict(), "source": ver.content["source"]}
    audit(session, user, "signature.attendance_refresh", f"signature_document:{doc.id}",
          {"version": ver.version, "changes": len(diff)})
    return diff


def source_state(session: Session, content: dict) -> dict | None:
    """For the pages / API: where the table came from and whether the attendance changed since."""
    if "source" not in content:
        return None
    try:
        diff = differences(session, content)
        error = ""
    except AttendanceSourceError as exc:
        diff, error = [], str(exc)
    return {"source": content["source"], "changed": bool(diff) or bool(error), "differences": diff,
            "error": error}
