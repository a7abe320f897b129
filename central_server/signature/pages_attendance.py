"""The teacher's page "Ký bảng điểm danh" (/signature/attendance): build a signable table from a class's
finalised attendance (routes_attendance.build), create the document, refresh it from the marks."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from central_server.core.templating import templates
from central_server.masterdata import access
from central_server.masterdata.service import class_groups
from central_server.masterdata.tables import SchoolClass

from . import attendance_source as src
from .deps import CurrentUser, DbSession, Settings
from .errors import SignatureFailure
from .routes_attendance import build, preview

router = APIRouter()


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
        "built": built, "error": error, "can_create": user.role == "teacher"}, status_code=status)


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
        built = build(request, session, user, kind, class_id, day, period, session_name, month)
    except SignatureFailure as exc:
        session.rollback()
        return _form_page(request, session, user, form, error=str(exc), status=_status_of(exc))
    preview(request, session, user, built)
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
        built = build(request, session, user, kind, class_id, day, period, session_name, month, create=True)
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
