"""Signing a class's finalised attendance: the API (/api/signature/attendance/...); the teacher's page
"Ký bảng điểm danh" (/signature/attendance) is pages_attendance.py. The tables come from the attendance module
(attendance_source); the documents then follow the normal workflow (lock → teacher signs) of service.py."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request

from central_server.attendance.queries import local_today
from central_server.core.audit import audit
from central_server.core.auth import client_ip

from . import attendance_source as src
from . import service
from .deps import CurrentUser, DbSession, Settings, http_error
from .errors import SignatureFailure
from .schemas import AttendanceMonthIn, AttendancePeriodIn, AttendancePreviewOut, DocumentOut

router = APIRouter()


def build(request: Request, session, user, kind: str, class_id: int, day: dt.date | None = None,
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


def preview(request: Request, session, user, built: src.Built) -> AttendancePreviewOut:
    audit(session, user, "signature.attendance_preview", f"class:{built.klass.id}", built.source,
          ip=client_ip(request))
    session.commit()
    c = built.content
    return AttendancePreviewOut(title=built.title, info_lines=c.info_lines, columns=c.columns, rows=c.rows,
                                source=built.source)


def _create(request: Request, session, user, settings, built: src.Built) -> DocumentOut:
    doc = src.create_document(session, user, built)
    session.commit()
    return service.document_out(session, doc, settings)


def _api(session, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except SignatureFailure as exc:
        session.rollback()
        raise http_error(exc) from exc


@router.get("/api/signature/attendance/period", response_model=AttendancePreviewOut)
def preview_period(request: Request, session: DbSession, user: CurrentUser, class_id: int, day: dt.date,
                   period: int, session_name: str | None = None):
    built = _api(session, build, request, session, user, "period", class_id, day, period, session_name)
    return preview(request, session, user, built)


@router.post("/api/signature/attendance/period", response_model=DocumentOut, status_code=201)
def create_period(data: AttendancePeriodIn, request: Request, session: DbSession, user: CurrentUser,
                  settings: Settings):
    built = _api(session, build, request, session, user, "period", data.class_id, data.day, data.period, data.session,
                 create=True)
    return _api(session, _create, request, session, user, settings, built)


@router.get("/api/signature/attendance/month", response_model=AttendancePreviewOut)
def preview_month(request: Request, session: DbSession, user: CurrentUser, class_id: int, month: str):
    built = _api(session, build, request, session, user, "month", class_id, month=month)
    return preview(request, session, user, built)


@router.post("/api/signature/attendance/month", response_model=DocumentOut, status_code=201)
def create_month(data: AttendanceMonthIn, request: Request, session: DbSession, user: CurrentUser,
                 settings: Settings):
    built = _api(session, build, request, session, user, "month", data.class_id, month=data.month, create=True)
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
    _api(session, src.refresh, session, user, doc_id)
    session.commit()
    doc, _ = _api(session, service.load, session, user, doc_id)
    return service.document_out(session, doc, settings)
