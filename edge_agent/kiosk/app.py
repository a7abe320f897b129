"""The teacher kiosk (FastAPI + Jinja2): sign in with a PIN, the current period's class list with one-tap
corrections, the review queue, finalisation, and whether the central side has the period ("đã đồng bộ").

It reads and writes only the school's SQLite database, so it works with the central server unreachable.
"""

import hmac
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from edge_agent.attendance.lessons import AttendanceError
from edge_agent.attendance.proposals import AttendanceEngine
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.config import AttendanceRules, KioskConfig
from edge_agent.kiosk import views
from edge_agent.kiosk.pins import check_pin
from edge_agent.kiosk.sessions import COOKIE, KioskSession, close_session, find_session, open_session
from edge_agent.store import school_db

HERE = Path(__file__).resolve().parent
OK_MESSAGES = {"sua": "Đã lưu thay đổi.", "chot": "Đã chốt tiết học.", "xem-xet": "Đã xử lý mục xem xét."}


@dataclass
class KioskContext:
    db_path: Path
    school: str
    key: bytes
    rules: AttendanceRules
    kiosk: KioskConfig
    tz: ZoneInfo
    room: str | None = None                       # a classroom kiosk shows its own room first
    device_id: str = "kiosk"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def create_kiosk_app(ctx: KioskContext) -> FastAPI:
    app = FastAPI(title="Điểm danh - kiosk giáo viên", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(label=views.LABEL, chip=views.CHIP, session_vi=views.SESSION_VI)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    school_db.close(school_db.connect(ctx.db_path))      # migrate once at start-up

    def db() -> Iterator[sqlite3.Connection]:
        conn = school_db.connect(ctx.db_path, migrate_schema=False)
        try:
            yield conn
        finally:
            conn.close()

    def desk(conn: sqlite3.Connection) -> TeacherDesk:
        return TeacherDesk(conn, ctx.rules, ctx.school, ctx.key, ctx.tz, device_id=ctx.device_id)

    Db = Annotated[sqlite3.Connection, Depends(db)]

    def who(request: Request, conn: Db) -> KioskSession:
        session = find_session(conn, request.cookies.get(COOKIE))
        if session is None:
            raise HTTPException(status_code=303, headers={"Location": "/dang-nhap"})
        return session

    Who = Annotated[KioskSession, Depends(who)]

    def check_csrf(session: KioskSession, token: str) -> None:
        if not hmac.compare_digest(session.csrf, token or ""):
            raise HTTPException(status_code=403, detail="Phiên làm việc không hợp lệ, hãy tải lại trang.")

    def page(request: Request, name: str, status: int = 200, **data) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"school": ctx.school, **data}, status_code=status)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/dang-nhap", response_class=HTMLResponse)
    def sign_in_form(request: Request, conn: Db):
        return page(request, "sign_in.html", teachers=views.teachers(conn))

    @app.post("/dang-nhap", response_class=HTMLResponse)
    def sign_in(request: Request, conn: Db, teacher_id: str = Form(""), pin: str = Form("")):
        result = check_pin(conn, teacher_id.strip()[:64], pin.strip()[:32], max_failures=ctx.kiosk.pin_max_failures,
                           lockout_minutes=ctx.kiosk.lockout_minutes, now=ctx.clock())
        if not result.ok:
            return page(request, "sign_in.html", status=401, teachers=views.teachers(conn), error=result.message,
                        chosen=teacher_id)
        token = open_session(conn, result.teacher_id, ctx.kiosk.session_minutes)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=ctx.kiosk.session_minutes * 60)
        return response

    @app.post("/dang-xuat")
    def sign_out(request: Request, session: Who, conn: Db, csrf: str = Form("")):
        check_csrf(session, csrf)
        close_session(conn, request.cookies.get(COOKIE))
        response = RedirectResponse("/dang-nhap", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, session: Who, conn: Db):
        now = ctx.clock()
        AttendanceEngine(conn, ctx.rules, ctx.school, ctx.key, ctx.tz, ctx.device_id).tick(now)
        d = desk(conn)
        lessons = d.lessons_around(now)
        lessons.sort(key=lambda x: (x.room != ctx.room, x.teacher_id != session.teacher_id, -x.start.timestamp()))
        current = [x for x in lessons if x.start <= now <= x.end]
        if len(current) == 1 and request.query_params.get("tat-ca") is None and ctx.room:
            return RedirectResponse(f"/tiet/{current[0].id}", status_code=303)
        return page(request, "lessons.html", session=session, now=now.astimezone(ctx.tz),
                    lessons=[(x, d.sync_state(x.id), views.counts(conn, x.id)) for x in lessons])

    @app.get("/tiet/{lesson_id}", response_class=HTMLResponse)
    def lesson_page(request: Request, session: Who, conn: Db, lesson_id: int):
        ok = OK_MESSAGES.get(request.query_params.get("ok", ""))
        return _lesson(request, conn, session, lesson_id, ok=ok)

    def _lesson(request: Request, conn: sqlite3.Connection, session: KioskSession, lesson_id: int,
                error: str | None = None, ok: str | None = None, status: int = 200) -> HTMLResponse:
        d = desk(conn)
        try:
            lesson = d.lesson(lesson_id)
        except AttendanceError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return page(request, "lesson.html", status=status, session=session, lesson=lesson,
                    students=d.students(lesson_id), reviews=d.reviews(lesson_id), sync=d.sync_state(lesson_id),
                    thumbs=views.thumbnail_ids(conn), roster=views.roster(conn, lesson.class_id),
                    error=error, ok=ok)

    @app.post("/tiet/{lesson_id}/sua", response_class=HTMLResponse)
    def correct(request: Request, session: Who, conn: Db, lesson_id: int, student_id: str = Form(...),
                mark: str = Form(...), note: str = Form(""), csrf: str = Form("")):
        check_csrf(session, csrf)
        try:
            desk(conn).correct(lesson_id, student_id, mark, session.teacher_id, note, now=ctx.clock())
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=sua#hs-{student_id}", status_code=303)

    @app.post("/tiet/{lesson_id}/chot", response_class=HTMLResponse)
    def finalise(request: Request, session: Who, conn: Db, lesson_id: int, csrf: str = Form("")):
        check_csrf(session, csrf)
        try:
            desk(conn).finalise(lesson_id, session.teacher_id, now=ctx.clock())
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=chot", status_code=303)

    @app.post("/xem-xet/{review_id}", response_class=HTMLResponse)
    def resolve(request: Request, session: Who, conn: Db, review_id: int, lesson_id: int = Form(...),
                action: str = Form(...), student_id: str = Form(""), csrf: str = Form("")):
        check_csrf(session, csrf)
        try:
            if action == "khong-phai-hoc-sinh":
                desk(conn).resolve_review(review_id, session.teacher_id, None, now=ctx.clock())
            elif action == "xac-nhan" and student_id:
                desk(conn).resolve_review(review_id, session.teacher_id, student_id, now=ctx.clock())
            else:
                raise AttendanceError("Hãy chọn học sinh trước khi xác nhận.")
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=xem-xet", status_code=303)

    @app.get("/xem-xet/{review_id}/anh")
    def review_crop(session: Who, conn: Db, review_id: int):
        data = desk(conn).review_crop(review_id)
        if data is None:
            raise HTTPException(status_code=404, detail="Ảnh đã bị xoá theo thời hạn lưu trữ.")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/anh/hoc-sinh/{student_id}")
    def thumbnail(session: Who, conn: Db, student_id: str):
        data = views.thumbnail(conn, student_id)
        if data is None:
            raise HTTPException(status_code=404, detail="Không có ảnh.")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 303:
            return RedirectResponse(exc.headers["Location"], status_code=303)
        return page(request, "error.html", status=exc.status_code, message=exc.detail)

    return app
