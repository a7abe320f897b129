"""Province web pages (Vietnamese): overview → school → class → student, absence warnings."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.auth import client_ip, current_user
from central_server.core.db import get_session
from central_server.core.params import RowId as Id
from central_server.core.tables import User
from central_server.core.templating import add_nav, templates
from central_server.masterdata import access
from central_server.masterdata.tables import SchoolClass

from . import queries
from .svg import trend_svg

router = APIRouter(include_in_schema=False)
DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
Day = Annotated[dt.date | None, Query()]
STATUS_LABELS = {"present": "Có mặt", "late": "Đi muộn", "absent_proposed": "Chưa thấy (chờ xác nhận)",
                 "P": "Vắng có phép", "K": "Vắng không phép", "left_early": "Về sớm"}
STAGE_LABELS = {"proposed": "Đề xuất (camera)", "corrected": "Giáo viên sửa", "finalised": "Đã chốt"}
SESSION_LABELS = {"morning": "Sáng", "afternoon": "Chiều", "day": "Cả ngày"}


def setup(app) -> None:
    add_nav("/overview", "Tổng quan")
    add_nav("/warnings", "Cảnh báo vắng")
    app.state.home_path = "/overview"
    templates.env.globals.update(status_labels=STATUS_LABELS, stage_labels=STAGE_LABELS,
                                 session_labels=SESSION_LABELS)


def _page(request: Request, name: str, context: dict):
    return templates.TemplateResponse(request, f"attendance/{name}", context)


def _audit(session: Session, request: Request, user: User, action: str, target: str) -> None:
    audit(session, user, action, target, {"page": request.url.path}, ip=client_ip(request))
    session.commit()


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request, user: CurrentUser, session: DbSession, day: Day = None):
    settings = request.app.state.settings
    data = queries.overview(session, user, settings, queries.check_day(day, settings))
    _audit(session, request, user, "attendance.overview", "schools")
    return _page(request, "overview.html", {"user": user, **data, "chart": Markup(trend_svg(data["series"]))})


@router.get("/schools/{school_id}", response_class=HTMLResponse)
def school_page(request: Request, school_id: Id, user: CurrentUser, session: DbSession, day: Day = None):
    settings = request.app.state.settings
    school = access.get_school(session, user, school_id)
    data = queries.school_view(session, user, settings, school, queries.check_day(day, settings))
    _audit(session, request, user, "attendance.school", f"school:{school_id}")
    return _page(request, "school.html", {"user": user, **data, "chart": Markup(trend_svg(data["series"]))})


@router.get("/classes/{class_id}", response_class=HTMLResponse)
def class_page(request: Request, class_id: Id, user: CurrentUser, session: DbSession,
               term: Annotated[Literal["HK1", "HK2", "CN"], Query()] = "CN", day: Day = None):
    settings = request.app.state.settings
    klass = access.get_class(session, user, class_id)
    data = queries.class_view(session, settings, klass, term, queries.check_day(day, settings))
    school = access.get_school(session, user, klass.school_id)
    _audit(session, request, user, "attendance.class", f"class:{class_id}")
    return _page(request, "class.html", {"user": user, "school": school, **data,
                                         "levels": settings.absence_warning_levels})


@router.get("/students/{student_id}", response_class=HTMLResponse)
def student_page(request: Request, student_id: Id, user: CurrentUser, session: DbSession, day: Day = None):
    settings = request.app.state.settings
    student = access.get_student(session, user, student_id)
    data = queries.student_view(session, settings, student, queries.check_day(day, settings))
    school = access.get_school(session, user, student.school_id)
    klass = session.get(SchoolClass, student.class_id) if student.class_id else None
    _audit(session, request, user, "attendance.student", f"student:{student_id}")
    return _page(request, "student.html", {"user": user, "school": school, "klass": klass, **data})


@router.get("/warnings", response_class=HTMLResponse)
def warnings_page(request: Request, user: CurrentUser, session: DbSession, day: Day = None):
    settings = request.app.state.settings
    rows = queries.warnings_view(session, user, settings, queries.check_day(day, settings))
    _audit(session, request, user, "attendance.warnings", "students")
    return _page(request, "warnings.html", {"user": user, "rows": rows, "levels": settings.absence_warning_levels,
                                            "limit": settings.absence_limit_sessions})
