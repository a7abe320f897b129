"""`edge-agent backup`: an online copy of the school database (edge_agent/store/backup.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.config import ConfigError, load_settings
from edge_agent.store.backup import EdgeBackupError, backup_school_db


def backup(config: Annotated[Path, typer.Option("--config", "-c", help="edge.toml")] = Path("edge.toml"),
           dest: Annotated[Path | None, typer.Option(help="backup folder (default: <data_dir>/backups)")] = None,
           keep: Annotated[int, typer.Option(help="backups to keep")] = 7) -> None:
    """Back up the school database online (the service may keep running) and keep the newest --keep copies."""
    try:
        settings = load_settings(config)
        path, old = backup_school_db(settings.paths.db_path, dest or settings.paths.data_dir / "backups", keep)
    except (ConfigError, EdgeBackupError, sqlite3.Error) as exc:
        typer.echo(f"Sao lưu thất bại: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Đã sao lưu cơ sở dữ liệu của trường vào {path}; đã xóa {len(old)} bản cũ")
