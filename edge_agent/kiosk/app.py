"""The teacher kiosk (FastAPI + Jinja2): sign in with a PIN, the current period's class list with one-tap
corrections, the review queue, finalisation, and whether the central side has the period ("đã đồng bộ").

It reads and writes only the school's SQLite database, so it works with the central server unreachable.
Threat model (school LAN, a teacher's phone or the classroom PC): the sign-in page lists nobody (the teacher types
their code), wrong PINs are throttled per teacher and per client, a teacher sees and changes only the lessons they
teach or substitute, PINs are 6 digits, and the server binds one interface with TLS (see KioskConfig).
"""

import hmac
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from edge_agent.attendance.lessons import AttendanceError, NotYourLesson
from edge_agent.attendance.proposals import AttendanceEngine
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.config import AttendanceRules, KioskConfig
from edge_agent.kiosk import views
from edge_agent.kiosk.pins import PinError, check_pin, set_pin
from edge_agent.kiosk.sessions import COOKIE, KioskSession, close_session, find_session, open_session
from edge_agent.kiosk.throttle import client_failed, client_locked_until
from edge_agent.store import school_db

HERE = Path(__file__).resolve().parent
OK_MESSAGES = {"sua": "Đã lưu thay đổi.", "chot": "Đã chốt tiết học.", "xem-xet": "Đã xử lý mục xem xét.",
               "mo-lai": "Đã mở lại tiết học; hãy chốt lại sau khi sửa.", "pin": "Đã đổi mã PIN."}


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

    def signed_in(request: Request, conn: Db) -> KioskSession:
        session = find_session(conn, request.cookies.get(COOKIE))
        if session is None:
            raise HTTPException(status_code=303, headers={"Location": "/dang-nhap"})
        return session

    def who(session: Annotated[KioskSession, Depends(signed_in)]) -> KioskSession:
        if session.must_change_pin:            # an old (short) PIN or reset by the admin: a new one first
            raise HTTPException(status_code=303, headers={"Location": "/doi-pin"})
        return session

    Who = Annotated[KioskSession, Depends(who)]
    SignedIn = Annotated[KioskSession, Depends(signed_in)]

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def check_csrf(session: KioskSession, token: str) -> None:
        if not hmac.compare_digest(session.csrf, token or ""):
            raise HTTPException(status_code=403, detail="Phiên làm việc không hợp lệ, hãy tải lại trang.")

    def page(request: Request, name: str, status: int = 200, **data) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"school": ctx.school, **data}, status_code=status,
                                          headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/dang-nhap", response_class=HTMLResponse)
    def sign_in_form(request: Request):
        return page(request, "sign_in.html")

    @app.post("/dang-nhap", response_class=HTMLResponse)
    def sign_in(request: Request, conn: Db, teacher_id: str = Form(""), pin: str = Form("")):
        now, client = ctx.clock(), client_of(request)
        code = teacher_id.strip()[:64]
        row = conn.execute("SELECT id FROM teachers WHERE upper(id) = upper(?)", (code,)).fetchone()
        code = row["id"] if row else code.upper()          # codes are typed in any case
        until = client_locked_until(conn, client, now)
        if until is not None:
            return page(request, "sign_in.html", status=429, chosen=code,
                        error="Máy này đã nhập sai quá nhiều lần. Thử lại sau "
                              f"{until.astimezone(ctx.tz).strftime('%H:%M')}.")
        result = check_pin(conn, code, pin.strip()[:32], max_failures=ctx.kiosk.pin_max_failures,
                           lockout_minutes=ctx.kiosk.lockout_minutes, now=now, tz=ctx.tz)
        if not result.ok:
            k = ctx.kiosk
            left = client_failed(conn, client, now, max_failures=k.client_max_failures,
                                 window_minutes=k.client_window_minutes, lockout_minutes=k.lockout_minutes)
            message = result.message
            if result.locked_until is None:
                tries = left if result.tries_left is None else min(left, result.tries_left)
                message = f"Mã giáo viên hoặc mã PIN không đúng (còn {tries} lần thử)."
            return page(request, "sign_in.html", status=401, error=message, chosen=code)
        token = open_session(conn, result.teacher_id, ctx.kiosk.session_minutes)
        response = RedirectResponse("/doi-pin" if result.must_change else "/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=ctx.kiosk.tls or
                            ctx.kiosk.behind_proxy, max_age=ctx.kiosk.session_minutes * 60)
        return response

    @app.get("/doi-pin", response_class=HTMLResponse)
    def change_pin_form(request: Request, session: SignedIn):
        return page(request, "change_pin.html", session=session)

    @app.post("/doi-pin", response_class=HTMLResponse)
    def change_pin(request: Request, session: SignedIn, conn: Db, new_pin: str = Form(""),
                   new_pin2: str = Form(""), csrf: str = Form("")):
        check_csrf(session, csrf)
        try:
            if new_pin != new_pin2:
                raise PinError("Hai lần nhập mã PIN mới không giống nhau.")
            set_pin(conn, session.teacher_id, new_pin.strip()[:32], session.teacher_id)
        except PinError as exc:
            return page(request, "change_pin.html", status=400, session=session, error=str(exc))
        return RedirectResponse("/?ok=pin", status_code=303)

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
        lessons = [x for x in d.lessons_around(now) if x.taught_by(session.teacher_id)]
        lessons.sort(key=lambda x: (x.room != ctx.room, x.teacher_id != session.teacher_id, -x.start.timestamp()))
        current = [x for x in lessons if x.start <= now <= x.end]
        if len(current) == 1 and request.query_params.get("tat-ca") is None and ctx.room:
            return RedirectResponse(f"/tiet/{current[0].id}", status_code=303)
        return page(request, "lessons.html", session=session, now=now.astimezone(ctx.tz),
                    ok=OK_MESSAGES.get(request.query_params.get("ok", "")),
                    lessons=[(x, d.sync_state(x.id), views.counts(conn, x.id)) for x in lessons])

    @app.get("/tiet/{lesson_id}", response_class=HTMLResponse)
    def lesson_page(request: Request, session: Who, conn: Db, lesson_id: int):
        ok = OK_MESSAGES.get(request.query_params.get("ok", ""))
        return _lesson(request, conn, session, lesson_id, ok=ok)

    def _lesson(request: Request, conn: sqlite3.Connection, session: KioskSession, lesson_id: int,
                error: str | None = None, ok: str | None = None, status: int = 200) -> HTMLResponse:
        d = desk(conn)
        try:
            lesson = d.owned(lesson_id, session.teacher_id)
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except AttendanceError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        now = ctx.clock()
        can_reopen = (lesson.state == "finalised" and lesson.finalised_by == session.teacher_id
                      and lesson.finalised_at is not None
                      and now <= lesson.finalised_at + timedelta(minutes=ctx.rules.reopen_window_min))
        return page(request, "lesson.html", status=status, session=session, lesson=lesson,
                    students=d.students(lesson_id), reviews=d.reviews(lesson_id), sync=d.sync_state(lesson_id),
                    thumbs=views.thumbnail_ids(conn), roster=views.roster(conn, lesson.class_id),
                    names=views.teacher_names(conn), can_reopen=can_reopen, tz=ctx.tz,
                    reopen_min=ctx.rules.reopen_window_min, error=error, ok=ok)

    @app.post("/tiet/{lesson_id}/sua", response_class=HTMLResponse)
    def correct(request: Request, session: Who, conn: Db, lesson_id: int, student_id: str = Form(...),
                mark: str = Form(...), note: str = Form(""), csrf: str = Form("")):
        check_csrf(session, csrf)
        try:
            desk(conn).correct(lesson_id, student_id, mark, session.teacher_id, note, now=ctx.clock())
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=sua#hs-{student_id}", status_code=303)

    @app.post("/tiet/{lesson_id}/chot", response_class=HTMLResponse)
    def finalise(request: Request, session: Who, conn: Db, lesson_id: int, csrf: str = Form(""),
                 confirm: str = Form("")):
        """First press: a confirmation page with the summary; the confirmation (confirm=1) finalises."""
        check_csrf(session, csrf)
        d = desk(conn)
        try:
            lesson = d.owned(lesson_id, session.teacher_id)
            if confirm != "1":
                summary = d.summary(lesson_id)
                if lesson.state == "finalised":
                    raise AttendanceError("Tiết học đã được chốt.")
                if summary.undecided:
                    raise AttendanceError("Chưa thể chốt: hãy chọn P (có phép) hoặc K (không phép) cho "
                                          f"{len(summary.undecided)} học sinh: " + ", ".join(summary.undecided))
                return page(request, "confirm.html", session=session, lesson=lesson, summary=summary)
            d.finalise(lesson_id, session.teacher_id, now=ctx.clock())
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=chot", status_code=303)

    @app.post("/tiet/{lesson_id}/mo-lai", response_class=HTMLResponse)
    def reopen(request: Request, session: Who, conn: Db, lesson_id: int, csrf: str = Form("")):
        check_csrf(session, csrf)
        try:
            desk(conn).reopen(lesson_id, session.teacher_id, now=ctx.clock())
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=mo-lai", status_code=303)

    @app.get("/tiet/{lesson_id}/anh/{student_id}")
    def sighting_crop(session: Who, conn: Db, lesson_id: int, student_id: str):
        d = desk(conn)
        try:
            d.owned(lesson_id, session.teacher_id)
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except AttendanceError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        data = d.sighting_crop(lesson_id, student_id)
        if data is None:
            raise HTTPException(status_code=404, detail="Ảnh đã bị xoá (chỉ giữ trong ngày).")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

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
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except AttendanceError as exc:
            return _lesson(request, conn, session, lesson_id, error=str(exc), status=409)
        return RedirectResponse(f"/tiet/{lesson_id}?ok=xem-xet", status_code=303)

    @app.get("/xem-xet/{review_id}/anh")
    def review_crop(session: Who, conn: Db, review_id: int):
        try:
            data = desk(conn).review_crop(review_id, session.teacher_id)
        except NotYourLesson as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        if data is None:
            raise HTTPException(status_code=404, detail="Ảnh đã bị xoá theo thời hạn lưu trữ.")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/anh/hoc-sinh/{student_id}")
    def thumbnail(session: Who, conn: Db, student_id: str):
        if not views.teaches_student(conn, session.teacher_id, student_id):
            raise HTTPException(status_code=403, detail="Học sinh không thuộc lớp thầy/cô dạy.")
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
