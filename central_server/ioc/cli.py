"""`central-server ioc ...`: rebuild the aggregates, run the job once, manage the city IOC's API consumers."""

from __future__ import annotations

import json
import time

import typer
from sqlalchemy import select

from central_server.core.config import get_settings
from central_server.core.db import make_engine, make_sessionmaker
from central_server.masterdata.tables import School

from . import job
from .api_v1 import create_consumer
from .config import IocSettings
from .tables import IocApiConsumer

app = typer.Typer(help="Operations centre (IOC): aggregates, alerts, city IOC API tokens.", no_args_is_help=True)


def _sessions(url: str | None):
    settings = get_settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    return settings, make_sessionmaker(make_engine(settings.database_url))


@app.command()
def rebuild(url: str = typer.Option(None, help="Database URL (default: CENTRAL_DATABASE_URL).")) -> None:
    """Rebuild every IOC aggregate and tile from the stored data (after a restore)."""
    settings, sessions = _sessions(url)
    started = time.perf_counter()
    out = job.rebuild(sessions, settings, IocSettings())
    out["seconds"] = round(time.perf_counter() - started, 2)
    typer.echo(json.dumps(out))


@app.command("tick")
def tick_once(url: str = typer.Option(None, help="Database URL (default: CENTRAL_DATABASE_URL).")) -> None:
    """Run the incremental job once (fold new facts, tiles, alerts, webhook)."""
    settings, sessions = _sessions(url)
    typer.echo(json.dumps(job.tick(sessions, settings, IocSettings())))


@app.command("run")
def run_forever(url: str = typer.Option(None, help="Database URL (default: CENTRAL_DATABASE_URL).")) -> None:
    """Run the incremental job in this process until stopped (then serve with CENTRAL_IOC_RUN_JOB=false)."""
    settings, sessions = _sessions(url)
    worker = job.IocJob(sessions, settings, IocSettings()).start()
    typer.echo("IOC job running; Ctrl+C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        worker.stop()


@app.command("add-consumer")
def add_consumer(name: str = typer.Argument(..., help="Consumer name, e.g. ioc-cantho."),
                 school: str = typer.Option(None, help="Limit the token to one school (MOET school code)."),
                 rate: int = typer.Option(None, help="Calls per minute (default: CENTRAL_IOC_API_RATE_PER_MINUTE)."),
                 url: str = typer.Option(None, help="Database URL (default: CENTRAL_DATABASE_URL).")) -> None:
    """Create a consumer of /api/ioc/v1 and print its token (shown once; only its SHA-256 is stored)."""
    _, sessions = _sessions(url)
    with sessions() as session:
        school_id = None
        if school:
            school_id = session.scalar(select(School.id).where(School.code == school))
            if school_id is None:
                raise typer.BadParameter(f"no school with code {school!r}")
        try:
            _, token = create_consumer(session, name, school_id, rate)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        session.commit()
    typer.echo(token)


@app.command("revoke-consumer")
def revoke_consumer(name: str, url: str = typer.Option(None, help="Database URL.")) -> None:
    """Deactivate a consumer's token."""
    _, sessions = _sessions(url)
    with sessions() as session:
        row = session.scalar(select(IocApiConsumer).where(IocApiConsumer.name == name))
        if row is None:
            raise typer.BadParameter(f"no consumer {name!r}")
        row.active = False
        session.commit()
    typer.echo(f"revoked {name}")
