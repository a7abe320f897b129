"""The incremental job: one `tick` folds new facts in, rewrites the tiles, evaluates the alert rules and
delivers due webhook notifications. `IocJob` runs ticks in a thread inside `central-server serve`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central_server.attendance.reports import year_terms
from central_server.core.clock import local_today
from central_server.core.config import Settings
from central_server.core.db import utcnow

from . import aggregates, alerts, tiles, webhook
from .config import IocSettings
from .stamps import TILES_STAMP
from .tables import IocWatermark

log = logging.getLogger(__name__)


TILES_OF = "tiles:"  # ioc_watermarks rows "tiles:<source>": how far of each source the stored tiles cover


def tick(sessions: sessionmaker[Session], settings: Settings, ioc: IocSettings, *, full: bool = True,
         now: dt.datetime | None = None, today: dt.date | None = None, deliver: bool = True) -> dict:
    """Fold, then (when anything changed, the tiles lag the fold, or `full`) tiles, then alerts: three short
    transactions, so that no reader or writer waits for a whole run; then (`deliver`) the webhook notifications
    that are due.

    The fold moves the source watermarks with the aggregates; the tiles transaction copies them into
    `tiles:<source>`, so that a run that stopped between the two (or another process's fold) is caught up by the
    next run, and "the tiles show event N" is exactly "tiles:attendance_history covers N"."""
    today = today or local_today(settings.timezone)
    with sessions() as session:
        folded = aggregates.fold(session, settings, ioc, today)
        session.commit()
        out = {"rows": folded.rows, "tiles_changed": 0}
        marks = _source_marks(session)
        if folded.changed or full or _tiles_lag(session, marks):
            computed = tiles.compute(session, settings, ioc, today, full)
            _lock_tiles(session)
            out["tiles_changed"] = tiles.write(session, computed, today)
            _cover(session, marks)
            session.commit()
            year = year_terms(session, today, settings)[-1].name
            # student rules: every student at a full refresh, else only the students this run touched
            out.update(alerts.evaluate(session, settings, ioc, today, year, now,
                                       students=None if full else folded.student_ids))
            session.commit()
        out["webhook_delivered"] = webhook.deliver_due(session, ioc, now) if deliver else 0
    return out


def _marks(session: Session, names) -> dict[str, tuple[int, frozenset]]:
    """{watermark name: (last id, ids still watched as gaps)} of the named watermarks."""
    rows = session.scalars(select(IocWatermark).where(IocWatermark.name.in_(list(names))))
    return {r.name: (r.last_id, frozenset((r.gaps or {}).keys())) for r in rows}


def _source_marks(session: Session) -> dict[str, tuple[int, frozenset]]:
    return _marks(session, aggregates.SOURCES)


def _tiles_lag(session: Session, marks: dict[str, tuple[int, frozenset]]) -> bool:
    covered = _marks(session, (TILES_OF + n for n in marks))
    return any(covered.get(TILES_OF + name) != mark for name, mark in marks.items())


def _lock_tiles(session: Session) -> None:
    """PostgreSQL: one tiles writer at a time (several processes may run the job); SQLite serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(IocWatermark.name).where(IocWatermark.name == TILES_STAMP).with_for_update())


def _cover(session: Session, marks: dict[str, tuple[int, frozenset]]) -> None:
    for name, (last_id, gaps) in marks.items():
        row = session.get(IocWatermark, TILES_OF + name)
        if row is None:
            row = IocWatermark(name=TILES_OF + name, last_id=0, gaps={})
            session.add(row)
        row.last_id, row.gaps, row.updated_at = last_id, dict.fromkeys(sorted(gaps), 0), utcnow()


def rebuild(sessions: sessionmaker[Session], settings: Settings, ioc: IocSettings,
            today: dt.date | None = None) -> dict:
    """Every aggregate and tile from scratch, in one transaction."""
    today = today or local_today(settings.timezone)
    with sessions() as session:
        out = aggregates.rebuild(session, settings, today)
        out["tiles"] = tiles.write(session, tiles.compute(session, settings, ioc, today), today)
        _cover(session, _source_marks(session))
        session.commit()
    return out


class IocJob:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings, ioc: IocSettings):
        self.sessions, self.settings, self.ioc = sessions, settings, ioc
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_full = 0.0
        self.last_error: str | None = None  # of the latest run (None: it succeeded)

    def start(self) -> IocJob:
        self._threads = [threading.Thread(target=self._run, name="ioc-job", daemon=True),
                         threading.Thread(target=self._deliver, name="ioc-webhook", daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def _deliver(self) -> None:
        """Webhook deliveries in their own thread: a slow receiver never delays the indicators."""
        while not self._stop.is_set():
            try:
                with self.sessions() as session:
                    webhook.deliver_due(session, self.ioc)
            except Exception:  # noqa: BLE001 - keep delivering after a failed round
                log.exception("IOC webhook round failed")
            self._stop.wait(self.ioc.job_interval_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            full = time.monotonic() - self.last_full >= self.ioc.full_refresh_s
            try:
                tick(self.sessions, self.settings, self.ioc, full=full, deliver=False)
                if full:
                    self.last_full = time.monotonic()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - the job must outlive a failing run (database restarting, ...)
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("IOC job tick failed")
            self._stop.wait(self.ioc.job_interval_s)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


def install(app) -> None:
    """Run the job for as long as the app runs (wraps its lifespan). Settings: `app.state.ioc_settings`."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app):
        ioc = app.state.ioc_settings
        job = IocJob(app.state.sessionmaker, app.state.settings, ioc).start() if ioc.run_job else None
        app.state.ioc_job = job
        try:
            async with inner(asgi_app) as state:
                yield state
        finally:
            if job is not None:
                await asyncio.to_thread(job.stop)
            app.state.ioc_job = None

    app.router.lifespan_context = lifespan
