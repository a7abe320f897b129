"""`central-server ingest ...` commands (the lead registers `app` with `add_typer(app, name="ingest")`)."""

from __future__ import annotations

import getpass
import os
import uuid

import typer

app = typer.Typer(help="Nhận dữ liệu điểm danh từ các trường (MQTT) / MQTT ingest.", no_args_is_help=True)


def _sessions():
    from central_server.core.config import get_settings
    from central_server.core.db import make_engine, make_sessionmaker
    from central_server.ingest.config import IngestSettings

    url = IngestSettings().database_url or get_settings().database_url
    return make_sessionmaker(make_engine(url))


@app.command()
def run() -> None:
    """Run the ingest worker (persistent MQTT session, ack after commit)."""
    from central_server.ingest.worker import main

    raise typer.Exit(main())


@app.command("add-school")
def add_school(school: str, key_hex: str = typer.Option("", help="existing key (hex); a new one if empty")) -> None:
    """Register (or rotate) a school's HMAC signing key and print it for the school's edge agent."""
    from central_server.ingest.service import set_school_key
    from edge_agent.protocol import SCHOOL_CODE_RE

    if not SCHOOL_CODE_RE.match(school):
        raise typer.BadParameter(f"mã trường không hợp lệ: {school!r}")
    try:
        key = bytes.fromhex(key_hex) if key_hex else os.urandom(32)
    except ValueError:
        raise typer.BadParameter("khóa phải ở dạng hex") from None
    if len(key) < 32:
        raise typer.BadParameter("khóa phải dài ít nhất 32 byte")
    with _sessions().begin() as session:
        set_school_key(session, school, key)
    typer.echo(f"EDGE_MQTT_SCHOOL={school}\nEDGE_MQTT_KEY_HEX={key.hex()}")


@app.command()
def erase(school: str, student_id: str, request_id: str = typer.Option("", help="data-subject request id")) -> None:
    """Queue an erasure request for the school's edge agent and try to send it now (the server retries)."""
    from pydantic import ValidationError

    from central_server.ingest.config import IngestSettings
    from central_server.ingest.control import UnknownSchool, request_erasure
    from central_server.ingest.control_dispatch import ControlDispatcher

    sessions = _sessions()
    try:
        with sessions.begin() as session:
            row = request_erasure(session, school, student_id, request_id or uuid.uuid4().hex,
                                  actor_name=f"cli:{getpass.getuser()}")
    except UnknownSchool:
        typer.echo(f"Chưa có khóa cho trường {school}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        raise typer.BadParameter(f"yêu cầu xóa không hợp lệ: {exc.errors()[0]['msg']}") from None
    result = ControlDispatcher(IngestSettings(), sessions).run_once(schools={school})
    if row.id in result.sent:
        typer.echo(f"Đã gửi yêu cầu xóa {student_id} tới {school}")
    else:
        why = result.failed.get(row.id, "xếp sau các tin nhắn trước của trường đang chờ gửi lại")
        typer.echo(f"Đã lưu yêu cầu xóa {student_id} (số {row.id}) vào hàng đợi; máy chủ trung tâm sẽ tự gửi lại "
                   f"tới {school} khi kết nối được ({why})")
