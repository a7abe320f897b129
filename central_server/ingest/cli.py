"""`central-server ingest ...` commands. `run` (the worker with the modules' event handlers) and `erase` (the
control outbox) are added to this group by central_server/cli.py, the composition root of the commands."""

from __future__ import annotations

import os

import typer

# Commands import their work inside the function: `central-server --help` stays light (no SQLAlchemy, paho).
app = typer.Typer(help="Nhận dữ liệu điểm danh từ các trường (MQTT) / MQTT ingest.", no_args_is_help=True)


def _sessions():
    from central_server.core.config import get_settings
    from central_server.core.db import make_engine, make_sessionmaker
    from central_server.ingest.config import IngestSettings

    url = IngestSettings().database_url or get_settings().database_url
    return make_sessionmaker(make_engine(url))


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
