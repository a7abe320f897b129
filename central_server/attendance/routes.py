"""Attendance API (`/api/attendance/...`), exports, and the province web pages (see pages.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.auth import client_ip, current_user
from central_server.core.db import get_session
from central_server.core.downloads import attachment
from central_server.core.params import RowId as Id
from central_server.core.tables import User
from central_server.masterdata import access

from . import exports, queries
from .pages import router as pages_router
from .pages import setup as pages_setup
from .schemas import (
    ClassRateOut,
    ClassReportOut,
    HistoryOut,
    MarkOut,
    OverviewOut,
    SchoolDayOut,
    SchoolRateOut,
    StudentReportOut,
    StudentTotalsOut,
)

router = APIRouter()
router.include_router(pages_router)
DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
Day = Annotated[dt.date | None, Query(description="Ngày (YYYY-MM-DD); mặc định hôm nay")]
Term = Annotated[Literal["HK1", "HK2", "CN"], Query(description="Học kỳ I, II hoặc cả năm")]
Fmt = Annotated[Literal["csv", "xlsx"], Query()]


def setup(app) -> None:
    pages_setup(app)


def _log(session: Session, request: Request, user: User, action: str, target: str, detail: dict | None = None):
    audit(session, user, action, target, detail, ip=client_ip(request))
    session.commit()


def _totals_out(t) -> StudentTotalsOut:
    return StudentTotalsOut(student_id=t.student_id, full_name=t.full_name, class_code=t.class_code,
                            school_id=t.school_id, excused=t.excused, unexcused=t.unexcused, total=t.total,
                            warning_level=t.level, not_eligible=t.not_eligible)


@router.get("/api/attendance/overview", response_model=OverviewOut, tags=["attendance"])
def api_overview(request: Request, user: CurrentUser, session: DbSession, day: Day = None):
    """Every visible school's attendance rate on `day` and its week, edge-agent state, unfinalised sessions."""
    settings = request.app.state.settings
    data = queries.overview(session, user, settings, queries.check_day(day, settings))
    _log(session, request, user, "attendance.overview", "schools", {"day": data["day"].isoformat()})
    return OverviewOut(day=data["day"], rate_today=data["rate_today"], schools=[
        SchoolRateOut(school_id=r["school"].id, code=r["school"].code, name=r["school"].name, rate_today=r["today"],
                      sessions_today=r["today_n"], rate_week=r["week"], edge=r["edge"],
                      not_finalised=r["not_finalised"]) for r in data["rows"]])


@router.get("/api/attendance/schools/{school_id}", response_model=SchoolDayOut, tags=["attendance"])
def api_school(request: Request, school_id: Id, user: CurrentUser, session: DbSession, day: Day = None):
    settings = request.app.state.settings
    school = access.get_school(session, user, school_id)
    data = queries.school_view(session, user, settings, school, queries.check_day(day, settings))
    _log(session, request, user, "attendance.school", f"school:{school_id}", {"day": data["day"].isoformat()})
    return SchoolDayOut(school_id=school_id, day=data["day"], series=data["series"], classes=[
        ClassRateOut(class_id=r["klass"].id, code=r["klass"].code, students=r["students"], rate_today=r["today"],
                     rate_week=r["week"]) for r in data["rows"]])


@router.get("/api/attendance/classes/{class_id}", response_model=ClassReportOut, tags=["attendance"])
def api_class(request: Request, class_id: Id, user: CurrentUser, session: DbSession, term: Term = "CN",
              day: Day = None):
    """Absent buổi (P, K) per student of the class in a term, with warning level and the over-45 flag."""
    settings = request.app.state.settings
    klass = access.get_class(session, user, class_id)
    data = queries.class_view(session, settings, klass, term, queries.check_day(day, settings))
    _log(session, request, user, "attendance.class", f"class:{class_id}", {"term": term})
    t = data["term"]
    return ClassReportOut(class_id=class_id, term=t.name, start=t.start, end=t.end,
                          students=[_totals_out(r) for r in data["rows"]])


@router.get("/api/attendance/students/{student_id}", response_model=StudentReportOut, tags=["attendance"])
def api_student(request: Request, student_id: Id, user: CurrentUser, session: DbSession, day: Day = None):
    """A student's totals per term, the current marks of the last 60 days and the full event history."""
    settings = request.app.state.settings
    student = access.get_student(session, user, student_id)
    data = queries.student_view(session, settings, student, queries.check_day(day, settings))
    _log(session, request, user, "attendance.student", f"student:{student_id}")
    return StudentReportOut(
        student_id=student_id, totals={k: _totals_out(v) for k, v in data["totals"].items()},
        marks=[MarkOut(day=m.day, session=m.session, period=m.period, status=m.status, stage=m.stage,
                       source=m.source) for m in data["marks"]],
        history=[HistoryOut(event_id=h.event_id, day=h.day, session=h.session, period=h.period, status=h.status,
                            stage=h.stage, source=h.source, actor=h.actor, observed_at=h.observed_at,
                            applied=h.applied) for h in data["history"]])


@router.get("/api/attendance/warnings", response_model=list[StudentTotalsOut], tags=["attendance"])
def api_warnings(request: Request, user: CurrentUser, session: DbSession, day: Day = None):
    """Students at or above the first warning level this school year (both P and K count)."""
    settings = request.app.state.settings
    rows = queries.warnings_view(session, user, settings, queries.check_day(day, settings))
    _log(session, request, user, "attendance.warnings", "students", {"count": len(rows)})
    return [_totals_out(r) for r in rows]


TOTALS_HEADERS = ["Họ tên", "Số định danh", "Lớp", "Vắng có phép (buổi)", "Vắng không phép (buổi)", "Tổng (buổi)",
                  "Mức cảnh báo", "Không đủ điều kiện lên lớp (>45 buổi)"]


def _totals_rows(rows) -> list[list]:
    return [[r.full_name, r.personal_id, r.class_code, r.excused, r.unexcused, r.total, r.level or "",
             "Có" if r.not_eligible else ""] for r in rows]


def _file(data: bytes, fmt: str, name: str) -> Response:
    media = exports.CSV_TYPE if fmt == "csv" else exports.XLSX_TYPE
    return Response(data, media_type=media, headers={"Content-Disposition": attachment(f"{name}.{fmt}")})


def _export(fmt: str, title: str, headers: list[str], rows: list[list], name: str) -> Response:
    data = exports.to_csv(headers, rows) if fmt == "csv" else exports.to_xlsx(title, headers, rows)
    return _file(data, fmt, name)


@router.get("/api/attendance/classes/{class_id}/export", tags=["attendance"],
            responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}})
def export_class(request: Request, class_id: Id, user: CurrentUser, session: DbSession, format: Fmt = "xlsx",
                 term: Term = "CN", day: Day = None):
    settings = request.app.state.settings
    klass = access.get_class(session, user, class_id)
    data = queries.class_view(session, settings, klass, term, queries.check_day(day, settings))
    _log(session, request, user, "attendance.export", f"class:{class_id}", {"format": format, "term": term})
    return _export(format, f"Lop {klass.code} {term}", TOTALS_HEADERS, _totals_rows(data["rows"]),
                   f"chuyen-can-lop-{klass.code}-{term}")


@router.get("/api/attendance/warnings/export", tags=["attendance"],
            responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}})
def export_warnings(request: Request, user: CurrentUser, session: DbSession, format: Fmt = "xlsx", day: Day = None):
    settings = request.app.state.settings
    rows = queries.warnings_view(session, user, settings, queries.check_day(day, settings))
    _log(session, request, user, "attendance.export", "warnings", {"format": format, "count": len(rows)})
    return _export(format, "Canh bao vang", TOTALS_HEADERS, _totals_rows(rows), "canh-bao-vang-hoc")


@router.get("/api/attendance/schools/{school_id}/export", tags=["attendance"],
            responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}})
def export_school_day(request: Request, school_id: Id, user: CurrentUser, session: DbSession, format: Fmt = "xlsx",
                      day: Day = None):
    settings = request.app.state.settings
    school = access.get_school(session, user, school_id)
    data = queries.school_view(session, user, settings, school, queries.check_day(day, settings))
    _log(session, request, user, "attendance.export", f"school:{school_id}", {"format": format})
    rows = [[r["klass"].code, r["students"], _pct(r["today"]), _pct(r["week"])] for r in data["rows"]]
    return _export(format, f"{school.code} {data['day']:%d-%m-%Y}", ["Lớp", "Sĩ số", "Chuyên cần ngày (%)",
                                                                       "Chuyên cần tuần (%)"], rows,
                   f"chuyen-can-{school.code}-{data['day']:%Y%m%d}")


def _pct(value: float | None) -> float | str:
    return "" if value is None else round(value * 100, 1)
