"""Signing a class's finalised attendance: the API (/api/signature/attendance/...) and the teacher's page
"Ký bảng điểm danh" (/signature/attendance). The tables come from the attendance module (attendance_source);
the documents then follow the normal workflow (lock → teacher signs) of service.py."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from central_server.attendance.views import local_today
from central_server.core.audit import audit
from central_server.core.auth import client_ip
from central_server.core.templating import templates
from central_server.masterdata import access
from central_server.masterdata.service import class_groups
from central_server.masterdata.tables import SchoolClass

from . import attendance_source as src
from . import service
from .deps import CurrentUser, DbSession, Settings, http_error
from .errors import SignatureFailure
from .schemas import AttendanceMonthIn, AttendancePeriodIn, AttendancePreviewOut, DocumentOut

router = APIRouter()


def _build(request: Request, session, user, kind: str, class_id: int, day: dt.date | None = None,
           period: int | None = None, sess: str | None = None, month: str | None = None,
           create: bool = False) -> src.Built:
    klass = src.check_class(session, user, class_id, create=create)
    if kind == "period":
        if day is None or period is None:
            raise src.AttendanceSourceError("Cần chọn ngày và tiết học.", "bad_input")
        return src.build_period(session, klass, day, period, sess or None)
    if not month:
        raise src.AttendanceSourceError("Cần chọn tháng.", "bad_input")
    return src.build_month(session, klass, month, today=local_today(request.app.state.settings))


def _preview(request: Request, session, user, built: src.Built) -> AttendancePreviewOut:
    audit(session, user, "signature.attendance_preview", f"class:{built.klass.id}", built.source,
          ip=client_ip(request))
    session.commit()
    c = built.content
    return AttendancePreviewOut(title=built.title, info_lines=c.info_lines, columns=c.columns, rows=c.rows,
                                source=built.source)


def _create(request: Request, session, user, settings, built: src.Built) -> DocumentOut:
    from .routes import document_out

    doc = src.create_document(session, user, built)
    session.commit()
    return document_out(session, doc, settings)


def _api(session, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except SignatureFailure as exc:
        session.rollback()
        raise http_error(exc) from exc


@router.get("/api/signature/attendance/period", response_model=AttendancePreviewOut)
def preview_period(request: Request, session: DbSession, user: CurrentUser, class_id: int, day: dt.date,
                   period: int, session_name: str | None = None):
    built = _api(session, _build, request, session, user, "period", class_id, day, period, session_name)
    return _preview(request, session, user, built)


@router.post("/api/signature/attendance/period", response_model=DocumentOut, status_code=201)
def create_period(data: AttendancePeriodIn, request: Request, session: DbSession, user: CurrentUser,
                  settings: Settings):
    built = _api(session, _build, request, session, user, "period", data.class_id, data.day, data.period, data.session,
                 create=True)
    return _api(session, _create, request, session, user, settings, built)


@router.get("/api/signature/attendance/month", response_model=AttendancePreviewOut)
def preview_month(request: Request, session: DbSession, user: CurrentUser, class_id: int, month: str):
    built = _api(session, _build, request, session, user, "month", class_id, month=month)
    return _preview(request, session, user, built)


@router.post("/api/signature/attendance/month", response_model=DocumentOut, status_code=201)
def create_month(data: AttendanceMonthIn, request: Request, session: DbSession, user: CurrentUser,
                 settings: Settings):
    built = _api(session, _build, request, session, user, "month", data.class_id, month=data.month, create=True)
    return _api(session, _create, request, session, user, settings, built)


@router.get("/api/signature/documents/{doc_id}/attendance-source")
def document_source(doc_id: str, request: Request, session: DbSession, user: CurrentUser):
    """Whether the attendance behind the current version changed since the table was made."""
    _doc, ver = _api(session, service.load, session, user, doc_id)
    state = src.source_state(session, ver.content)
    if state is None:
        raise http_error(src.AttendanceSourceError("Tài liệu này không lập từ dữ liệu điểm danh.", "bad_input"))
    return state | {"version": ver.version, "status": ver.status}


@router.post("/api/signature/documents/{doc_id}/attendance-refresh", response_model=DocumentOut)
def refresh_document(doc_id: str, session: DbSession, user: CurrentUser, settings: Settings):
    from .routes import document_out

    _api(session, src.refresh, session, user, doc_id)
    session.commit()
    doc, _ = _api(session, service.load, session, user, doc_id)
    return document_out(session, doc, settings)


# ---------------------------------------------------------------- pages


def _classes(session, user) -> list[SchoolClass]:
    q = select(SchoolClass).order_by(SchoolClass.school_year.desc(), SchoolClass.code).limit(500)
    visible = access.visible_class_ids(session, user)
    if visible is not None:
        q = q.where(SchoolClass.id.in_(visible or {-1}))
    if not user.is_province:
        q = q.where(SchoolClass.school_id == user.school_id)
    return list(session.scalars(q))


def _form_page(request: Request, session, user, form: dict, built=None, error: str = "", status: int = 200):
    classes = _classes(session, user)
    return templates.TemplateResponse(request, "signature/attendance.html", {
        "user": user, "classes": classes, "class_groups": class_groups(session, classes), "form": form,
        "built": built, "error": error,
        "can_create": user.role == "teacher"}, status_code=status)


def _status_of(exc: SignatureFailure) -> int:
    return {"forbidden": 403, "not_found": 404, "bad_input": 422, "ambiguous": 422}.get(exc.code, 409)


@router.get("/signature/attendance", response_class=HTMLResponse)
def attendance_page(request: Request, session: DbSession, user: CurrentUser, kind: str = "period",
                    class_id: int | None = None, day: dt.date | None = None, period: int | None = None,
                    session_name: str = "", month: str = ""):
    form = {"kind": kind, "class_id": class_id, "day": day, "period": period, "session_name": session_name,
            "month": month}
    if class_id is None:
        return _form_page(request, session, user, form)
    try:
        built = _build(request, session, user, kind, class_id, day, period, session_name, month)
    except SignatureFailure as exc:
        session.rollback()
        return _form_page(request, session, user, form, error=str(exc), status=_status_of(exc))
    _preview(request, session, user, built)
    return _form_page(request, session, user, form, built=built)


def _parse_day_period(day: str, period: str) -> tuple[dt.date | None, int | None]:
    try:
        return (dt.date.fromisoformat(day) if day else None), (int(period) if period else None)
    except ValueError:
        raise src.AttendanceSourceError("Ngày hoặc tiết học không hợp lệ.", "bad_input") from None


@router.post("/signature/attendance")
def attendance_create(request: Request, session: DbSession, user: CurrentUser, settings: Settings,
                      kind: str = Form("period"), class_id: int = Form(...), day: str = Form(""),
                      period: str = Form(""), session_name: str = Form(""), month: str = Form("")):
    form = {"kind": kind, "class_id": class_id, "day": day, "period": period, "session_name": session_name,
            "month": month}
    try:
        day, period = _parse_day_period(day, period)
        built = _build(request, session, user, kind, class_id, day, period, session_name, month, create=True)
        doc = src.create_document(session, user, built)
    except SignatureFailure as exc:
        session.rollback()
        return _form_page(request, session, user, form, error=str(exc), status=_status_of(exc))
    session.commit()
    msg = quote("Đã lập bảng điểm danh từ dữ liệu đã chốt. Kiểm tra, khoá rồi ký số.")
    return RedirectResponse(f"/signature/documents/{doc.id}?msg={msg}", status_code=303)


@router.post("/signature/documents/{doc_id}/attendance-refresh")
def refresh_form(doc_id: str, request: Request, session: DbSession, user: CurrentUser):
    try:
        diff = src.refresh(session, user, doc_id)
    except SignatureFailure as exc:
        session.rollback()
        return templates.TemplateResponse(request, "signature/verify.html", {"user": user, "error": str(exc)},
                                          status_code=_status_of(exc))
    session.commit()
    msg = quote(f"Đã cập nhật {len(diff)} chỗ từ dữ liệu điểm danh." if diff else "Bảng đã khớp dữ liệu điểm danh.")
    return RedirectResponse(f"/signature/documents/{doc_id}?msg={msg}", status_code=303)
