"""`edge-agent teacher ...`: the school administrator's commands for kiosk accounts — add a teacher, set a 6-digit
PIN, make a teacher choose a new PIN at the next sign-in (e.g. every old 4-digit PIN), record a substitute."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.attendance.lessons import AttendanceError
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.attendance.timetable import parse_date
from edge_agent.config import ConfigError, load_settings
from edge_agent.kiosk.pins import PinError, check_new_pin, require_pin_change, set_pin
from edge_agent.store import school_db

teacher_app = typer.Typer(help="Tài khoản giáo viên trên kiosk điểm danh: thêm, đặt PIN, dạy thay.",
                          no_args_is_help=True)
Config = Annotated[Path, typer.Option("--config", "-c", help="tệp cấu hình edge.toml")]
ACTOR = "admin-cli"


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"Lỗi: {message}", err=True)
    raise typer.Exit(code)


def _db(config: Path):
    try:
        return load_settings(config).paths.db_path
    except ConfigError as exc:
        _fail(str(exc), 2)


def _read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    return typer.prompt("Mã PIN mới (6 chữ số)", hide_input=True, confirmation_prompt="Nhập lại mã PIN")


@teacher_app.command("add")
def add(code: Annotated[str, typer.Argument(help="mã giáo viên, VD: GV001")],
        name: Annotated[str, typer.Argument(help="họ và tên")],
        config: Config = Path("edge.toml"),
        pin_stdin: Annotated[bool, typer.Option("--pin-stdin", help="đọc PIN từ đầu vào chuẩn")] = False) -> None:
    """Thêm giáo viên và đặt mã PIN 6 chữ số."""
    code, name = code.strip().upper(), " ".join(name.split())
    if not code or len(code) > 64 or not name:
        _fail("mã giáo viên và họ tên không được trống (mã tối đa 64 ký tự).", 2)
    pin = _read_pin(pin_stdin)
    try:
        check_new_pin(pin)                 # before anything is written
    except PinError as exc:
        _fail(str(exc), 2)
    conn = school_db.connect(_db(config))
    try:
        if conn.execute("SELECT 1 FROM teachers WHERE id = ?", (code,)).fetchone():
            _fail(f"đã có giáo viên mã {code} (dùng `edge-agent teacher pin` để đổi PIN).")
        conn.execute("INSERT INTO teachers (id, full_name) VALUES (?, ?)", (code, name))
        set_pin(conn, code, pin, ACTOR)
    finally:
        school_db.close(conn)
    typer.echo(f"Đã thêm giáo viên {name} ({code}).")


@teacher_app.command("pin")
def pin(code: Annotated[str, typer.Argument(help="mã giáo viên (bỏ trống khi dùng --all)")] = "",
        config: Config = Path("edge.toml"),
        must_change: Annotated[bool, typer.Option("--must-change",
                                                  help="không đặt PIN mới: bắt đổi PIN ở lần đăng nhập sau")] = False,
        all_teachers: Annotated[bool, typer.Option("--all", help="cùng với --must-change: mọi giáo viên")] = False,
        pin_stdin: Annotated[bool, typer.Option("--pin-stdin", help="đọc PIN từ đầu vào chuẩn")] = False) -> None:
    """Đặt mã PIN mới (6 chữ số) cho giáo viên, hoặc bắt giáo viên tự đổi PIN ở lần đăng nhập sau."""
    if all_teachers and not must_change:
        _fail("--all chỉ dùng cùng --must-change.", 2)
    if not all_teachers and not code.strip():
        _fail("hãy cho biết mã giáo viên (hoặc --must-change --all).", 2)
    conn = school_db.connect(_db(config))
    try:
        if must_change:
            codes = [r[0] for r in conn.execute("SELECT id FROM teachers WHERE active = 1")] if all_teachers \
                else [code.strip().upper()]
            for c in codes:
                require_pin_change(conn, c, ACTOR)
            typer.echo(f"{len(codes)} giáo viên phải đổi PIN ở lần đăng nhập sau.")
            return
        set_pin(conn, code.strip().upper(), _read_pin(pin_stdin), ACTOR)
    except PinError as exc:
        _fail(str(exc), 2)
    finally:
        school_db.close(conn)
    typer.echo("Đã đặt mã PIN mới.")


@teacher_app.command("substitute")
def substitute(class_id: Annotated[str, typer.Option("--class", help="lớp, VD: 10A1")],
               day: Annotated[str, typer.Option("--date", help="ngày dạy thay, dd/mm/yyyy")],
               period: Annotated[int, typer.Option("--period", help="tiết (1-7)")],
               teacher: Annotated[str, typer.Option("--teacher", help="mã giáo viên dạy thay")],
               session: Annotated[str, typer.Option("--session", help="buổi: sang (sáng) | chieu (chiều)")] = "sang",
               config: Config = Path("edge.toml")) -> None:
    """Ghi nhận giáo viên dạy thay cho một tiết: người đó được sửa và chốt điểm danh tiết ấy."""
    sessions = {"sang": "morning", "sáng": "morning", "chieu": "afternoon", "chiều": "afternoon"}
    if session.lower() not in sessions:
        _fail("buổi phải là sang hoặc chieu.", 2)
    try:
        when: date = parse_date(day)
    except ValueError:
        _fail(f"ngày {day!r} không hợp lệ (dùng dd/mm/yyyy).", 2)
    settings = load_settings(config)
    conn = school_db.connect(settings.paths.db_path)
    try:
        desk = TeacherDesk(conn, settings.attendance, settings.school_code, b"", settings.tz)
        lesson_id = desk.substitute_on(when, sessions[session.lower()], period, class_id.strip().upper(),
                                       teacher.strip().upper(), ACTOR)
    except AttendanceError as exc:
        _fail(str(exc), 1)
    finally:
        school_db.close(conn)
    typer.echo(f"Đã ghi nhận giáo viên {teacher.upper()} dạy thay (tiết học số {lesson_id}).")
