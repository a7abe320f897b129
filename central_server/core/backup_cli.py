"""`central-server backup` and `central-server restore` (registered in `central_server/cli.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from central_server.core.backup import BackupError, BackupSettings, backup, list_backups, restore
from central_server.core.config import get_settings


def backup_command(url: Annotated[str | None, typer.Option(help="Database URL (default: CENTRAL_DATABASE_URL).")]
                   = None,
                   directory: Annotated[Path | None, typer.Option("--dir", help="Backup folder "
                                                                  "(default: CENTRAL_BACKUP_DIR).")] = None,
                   keep: Annotated[int | None, typer.Option(help="Backups to keep (default: CENTRAL_BACKUP_KEEP).")]
                   = None) -> None:
    """Back up the central database (encrypted with CENTRAL_BACKUP_KEY) and delete the oldest beyond --keep."""
    settings = BackupSettings()
    if directory is not None:
        settings.dir = directory
    if keep is not None:
        if keep < 1:
            raise typer.BadParameter("--keep phải >= 1")
        settings.keep = keep
    try:
        info = backup(url or get_settings().database_url, settings)
    except BackupError as exc:
        typer.echo(f"Sao lưu thất bại: {exc}", err=True)
        raise typer.Exit(1) from None
    note = "mã hóa" if info.encrypted else "KHÔNG mã hóa (chưa đặt CENTRAL_BACKUP_KEY)"
    typer.echo(f"Đã sao lưu {info.kind} vào {info.path} ({info.size} byte, {note}); "
               f"đã xóa {len(info.deleted)} bản cũ")


def restore_command(backup_file: Annotated[Path | None, typer.Argument(help="Backup file (default: the newest "
                                                                              "in CENTRAL_BACKUP_DIR).")] = None,
                    url: Annotated[str | None, typer.Option(help="EMPTY target database URL "
                                                            "(default: CENTRAL_DATABASE_URL).")] = None,
                    force: Annotated[bool, typer.Option(help="SQLite only: replace an existing file.")] = False
                    ) -> None:
    """Restore a backup into an empty database (a fresh PostgreSQL database or a new SQLite file)."""
    settings = BackupSettings()
    if backup_file is None:
        found = list_backups(settings.dir)
        if not found:
            typer.echo(f"Không có bản sao lưu trong {settings.dir}", err=True)
            raise typer.Exit(1)
        backup_file = found[-1]
    if not backup_file.is_file():
        typer.echo(f"Không tìm thấy tệp {backup_file}", err=True)
        raise typer.Exit(1)
    try:
        kind = restore(backup_file, url or get_settings().database_url, settings, force=force)
    except BackupError as exc:
        typer.echo(f"Khôi phục thất bại: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Đã khôi phục {backup_file.name} ({kind}); chạy `central-server db upgrade` rồi khởi động lại "
               f"máy chủ và các ingest worker; các trường sẽ tự gửi lại sự kiện còn thiếu khi đối soát")
