"""`central-server`: run the province application, migrate its database, create the first admin."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from .admissions.cli import app as admissions_cli
from .control.cli import erase
from .core.backup_cli import backup_command, restore_command
from .core.partitions_cli import partitions_command
from .ingest.cli import app as ingest_cli
from .ioc.cli import app as ioc_cli
from .signature.cli import app as signature_cli

# Each command imports its work inside the function: `central-server --help` and the light commands must not
# load the whole application (SQLAlchemy, pyHanko, boto3, lxml ... of every module).
app = typer.Typer(help="The province's central server.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations (Alembic, one branch per module).", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("partitions")(partitions_command)
app.add_typer(admissions_cli, name="admissions")
app.add_typer(signature_cli, name="signature")
app.add_typer(ingest_cli, name="ingest")
app.add_typer(ioc_cli, name="ioc")
ingest_cli.command("erase")(erase)   # the control outbox's command, in the group operators know


@ingest_cli.command("run")
def ingest_run() -> None:
    """Run the ingest worker (persistent MQTT session, ack after commit)."""
    # Kept out of `central-server --help`: the worker brings paho-mqtt and every event-handling module.
    from .events import event_handler
    from .ingest.worker import main

    raise typer.Exit(main(event_handler()))


app.command("backup")(backup_command)
app.command("restore")(restore_command)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Address to listen on."),
          port: int = typer.Option(8000, help="TCP port."),
          workers: int = typer.Option(1, help="Worker processes."),
          reload: bool = typer.Option(False, help="Reload on code changes (development).")) -> None:
    """Serve the web UI and the API with uvicorn (refuses an unmigrated database)."""
    import uvicorn

    from .core.config import get_settings

    settings = get_settings()
    _require_migrated(settings.database_url)
    trusted = settings.trusted_proxies
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"Máy chủ trung tâm: http://{shown}:{port}/  (trang điều hành IOC: /ioc, đăng nhập: /login; "
               "Ctrl-C để dừng)")
    # X-Forwarded-For is believed only from the configured reverse proxies (CENTRAL_TRUSTED_PROXIES); with none,
    # the TCP peer is the client, so a client cannot choose the address its sign-in attempts are counted under.
    uvicorn.run("central_server.app:create_app", factory=True, host=host, port=port, workers=workers,
                reload=reload, log_config=None, proxy_headers=bool(trusted),
                forwarded_allow_ips=",".join(trusted) if trusted else None)


def _require_migrated(database_url: str) -> None:
    """Exit with one Vietnamese line when the database is unreachable or not at every module's head."""
    from sqlalchemy.exc import SQLAlchemyError

    from .core.migrate import missing_heads, one_line

    try:
        missing = missing_heads(database_url)
    except SQLAlchemyError as exc:
        typer.echo(f"Lỗi: không kết nối được cơ sở dữ liệu {_safe(database_url)} (database unreachable): "
                   f"{one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    if missing:
        typer.echo(f"Lỗi: cơ sở dữ liệu {_safe(database_url)} chưa được tạo/cập nhật cấu trúc (not migrated). "
                   "Hãy chạy: central-server db upgrade", err=True)
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(target: str = typer.Argument("heads", help="Revision (default: every module's head)."),
               url: str = typer.Option(None, help="Database URL (default: CENTRAL_DATABASE_URL).")) -> None:
    """Apply migrations (``alembic upgrade heads``)."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from .core.config import get_settings
    from .core.migrate import one_line, upgrade

    database_url = url or get_settings().database_url
    try:
        upgrade(database_url, target)
    except SQLAlchemyError as exc:   # unreachable server, wrong password, unwritable file: one line, not a traceback
        typer.echo(f"Lỗi: không cập nhật được cơ sở dữ liệu {_safe(database_url)} (database error): "
                   f"{one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    except CommandError as exc:
        typer.echo(f"Lỗi: phiên bản cấu trúc không hợp lệ (alembic): {one_line(exc)}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"database at {_safe(database_url)} is at {target}")


@db_app.command("current")
def db_current(url: str = typer.Option(None, help="Database URL (default: CENTRAL_DATABASE_URL).")) -> None:
    """Show the applied revision of every branch."""
    from alembic import command

    from .core.config import get_settings
    from .core.migrate import alembic_config

    command.current(alembic_config(url or get_settings().database_url))


@app.command("create-admin")
def create_admin(username: str = typer.Argument(..., help="Login name."),
                 full_name: str = typer.Option("", help="Full name."),
                 role: str = typer.Option("province_admin", help="Role of the new account."),
                 school_id: int = typer.Option(None, help="School id (school_admin / teacher)."),
                 password: str = typer.Option(None, envvar="CENTRAL_ADMIN_PASSWORD",
                                              help="Password (default: asked twice on the terminal).")) -> None:
    """Create a user account (by default the first province administrator)."""
    from sqlalchemy import select

    from .app import metadata
    from .core import passwords
    from .core.auth import create_user
    from .core.config import get_settings
    from .core.db import make_engine, make_sessionmaker
    from .core.tables import User

    settings = get_settings()
    passwords.configure(settings)
    metadata()  # every module's tables mapped (a user row refers to a school)
    if password is None:
        password = getpass.getpass("Mật khẩu: ")
        if getpass.getpass("Nhập lại mật khẩu: ") != password:
            raise typer.BadParameter("Hai lần nhập mật khẩu không khớp.")
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if session.scalars(select(User).where(User.username == username.strip().lower())).first():
                typer.echo(f"Tài khoản {username!r} đã tồn tại.", err=True)
                raise typer.Exit(1)
            try:
                user = create_user(session, username, password, role, full_name=full_name, school_id=school_id)
            except ValueError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(2) from None
            session.commit()
            typer.echo(f"created {user.role} {user.username} (id {user.id})")
    finally:
        engine.dispose()


@app.command("demo-data")
def demo_data(schools: int = typer.Option(39, help="Number of schools."),
              classes: int = typer.Option(4, help="Classes per school."),
              students: int = typer.Option(30, help="Students per class."),
              days: int = typer.Option(22, help="School days of marks (about a month)."),
              password: str = typer.Option(..., envvar="CENTRAL_DEMO_PASSWORD",
                                           help="Password of the demo accounts so_admin, so_canbo, admin_t01."),
              school_roster: str = typer.Option(None,
                                                help="CSV of one more school (school_code, school_name, class, "
                                                     "grade, personal_id, full_name): the demo edge school.")
              ) -> None:
    """Fill an EMPTY, migrated database with generated schools, students and attendance (never real data)."""

    from sqlalchemy import func, select

    from .app import metadata
    from .attendance.demo import DemoSize, add_roster, generate, read_roster
    from .core import passwords
    from .core.clock import local_today
    from .core.config import get_settings
    from .core.db import make_engine
    from .masterdata.tables import School

    settings = get_settings()
    passwords.configure(settings)
    metadata()  # every module's tables mapped
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            if conn.scalar(select(func.count()).select_from(School)):
                typer.echo("Cơ sở dữ liệu đã có dữ liệu; chỉ tạo dữ liệu mẫu trên cơ sở dữ liệu trống.", err=True)
                raise typer.Exit(1)
        try:
            roster = read_roster(Path(school_roster)) if school_roster else []
        except ValueError as exc:
            typer.echo(f"Lỗi: {exc}", err=True)
            raise typer.Exit(2) from None
        today = local_today(settings.timezone)
        counts = generate(engine, DemoSize(schools, classes, students, days), today, password=password)
        if roster:
            counts |= add_roster(engine, roster, today)
        typer.echo(f"demo data: {counts}")
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
