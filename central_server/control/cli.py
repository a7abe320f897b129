"""`central-server ingest erase`: queue an erasure request for a school's edge agent and try to send it now.

central_server/cli.py adds `erase` to the `ingest` command group (where the operators have always found it).
"""

from __future__ import annotations

import getpass
import uuid

import typer
from pydantic import ValidationError

from central_server.control.dispatcher import ControlDispatcher
from central_server.control.service import UnknownSchool, request_erasure
from central_server.core.config import get_settings
from central_server.core.db import make_engine, make_sessionmaker
from central_server.ingest.config import IngestSettings


def erase(school: str, student_id: str, request_id: str = typer.Option("", help="data-subject request id")) -> None:
    """Queue an erasure request for the school's edge agent and try to send it now (the server retries)."""
    settings = IngestSettings()
    sessions = make_sessionmaker(make_engine(settings.database_url or get_settings().database_url))
    try:
        with sessions.begin() as session:
            row = request_erasure(session, school, student_id, request_id or uuid.uuid4().hex,
                                  actor_name=f"cli:{getpass.getuser()}")
    except UnknownSchool:
        typer.echo(f"Chưa có khóa cho trường {school}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        raise typer.BadParameter(f"yêu cầu xóa không hợp lệ: {exc.errors()[0]['msg']}") from None
    result = ControlDispatcher(settings, sessions).run_once(schools={school})
    if row.id in result.sent:
        typer.echo(f"Đã gửi yêu cầu xóa {student_id} tới {school}")
    else:
        why = result.failed.get(row.id, "xếp sau các tin nhắn trước của trường đang chờ gửi lại")
        typer.echo(f"Đã lưu yêu cầu xóa {student_id} (số {row.id}) vào hàng đợi; máy chủ trung tâm sẽ tự gửi lại "
                   f"tới {school} khi kết nối được ({why})")
