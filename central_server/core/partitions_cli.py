"""`central-server db partitions`: create the coming months' partitions (daily timer; idempotent)."""

from __future__ import annotations

from typing import Annotated

import typer

from central_server.core.config import get_settings
from central_server.core.db import make_engine
from central_server.core.partitions import ensure_partitions


def partitions_command(months_ahead: Annotated[int, typer.Option(min=1, max=24, help="Months to create ahead.")] = 3,
                       url: Annotated[str | None, typer.Option(help="Database URL (default: CENTRAL_DATABASE_URL).")]
                       = None) -> None:
    """Create the monthly partitions of the big PostgreSQL tables ahead of time (nothing to do on SQLite)."""
    engine = make_engine(url or get_settings().database_url)
    try:
        if engine.dialect.name != "postgresql":
            typer.echo("SQLite: các bảng không phân vùng, không có gì để làm")
            return
        with engine.begin() as conn:
            created = ensure_partitions(conn, months_ahead)
    finally:
        engine.dispose()
    typer.echo(f"Đã tạo {len(created)} phân vùng: {', '.join(created)}" if created else "Các phân vùng đã đủ")
