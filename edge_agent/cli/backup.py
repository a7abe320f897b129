"""`edge-agent backup`: an online copy of the school database (edge_agent/store/backup.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.config import ConfigError, load_settings
from edge_agent.store.backup import EdgeBackupError, backup_school_db


def backup(config: Annotated[Path, typer.Option("--config", "-c", help="tệp cấu hình edge.toml")] = Path("edge.toml"),
           dest: Annotated[Path | None, typer.Option(help="thư mục sao lưu (mặc định: backups/)")] = None,
           keep: Annotated[int, typer.Option(help="số bản sao lưu giữ lại")] = 7) -> None:
    """Sao lưu cơ sở dữ liệu của trường khi dịch vụ vẫn chạy; giữ --keep bản mới nhất."""
    try:
        settings = load_settings(config)
        path, old = backup_school_db(settings.paths.db_path, dest or settings.paths.data_dir / "backups", keep)
    except (ConfigError, EdgeBackupError, sqlite3.Error) as exc:
        typer.echo(f"Lỗi: sao lưu thất bại: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Đã sao lưu cơ sở dữ liệu của trường vào {path}; đã xóa {len(old)} bản cũ")
