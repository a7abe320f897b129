"""The dispatcher that delivers the control outbox (outbox.py): queued erasure requests and package notices.

Where it runs: inside the central application, the process the deployment always runs (`central-server serve`,
hardware/systemd/central-server.service). `control/routes.setup` wraps the app's lifespan with `install`, so a
dispatcher over the app's database starts and stops with the app; `CENTRAL_INGEST_CONTROL_DISPATCH=false`
keeps a process from dispatching. Other processes only queue (`outbox.enqueue`, `ControlPublisher.send`); the
CLI makes one attempt itself and leaves the rest to the app, which polls every `control_poll_s`.

How rows are delivered:
- each school's pending rows go out oldest first, over one short broker connection per pass
  (`BrokerPublisher.publish`);
- a school is claimed with a conditional UPDATE of its oldest pending row (`claimed_by`, `claimed_until`), so
  several dispatchers (uvicorn workers, the CLI) never send one school's messages out of order; a dispatcher
  that died holding a claim is replaced after `control_claim_s` (its messages may then arrive twice, which
  the edge tolerates: erasure and package installation are idempotent);
- a row is marked sent only when the broker took it (PUBACK; 0x10 "no matching subscribers" is not taken, see
  broker.py); otherwise `attempts`, `last_error` and `next_attempt_at` are recorded and the school's rows are
  retried after a back-off doubling from `control_retry_min_s` up to `control_retry_max_s` (15 s), so an
  erasure reaches a connected school well within 60 s of the broker coming back;
- a database error is logged and the pass retried; the dispatcher thread never dies of it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from central_server.control import outbox
from central_server.control.broker import BrokerPublisher
from central_server.core.db import utcnow
from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import ControlOutbox
from edge_agent.protocol import Control

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- delivering
@dataclass
class DispatchResult:
    sent: list[int] = field(default_factory=list)             # outbox ids the broker took
    failed: dict[int, str] = field(default_factory=dict)      # outbox id -> why not
    next_due_s: float | None = None                           # seconds until a pending school is due again


class ControlDispatcher:
    def __init__(self, settings: IngestSettings, sessions: sessionmaker[Session], *,
                 publisher: BrokerPublisher | None = None):
        self.s = settings
        self.sessions = sessions
        self.publisher = publisher or BrokerPublisher(settings)
        self.id = f"{settings.client_id}-{uuid.uuid4().hex[:12]}"
        self._key = outbox.db_key(sessions)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> ControlDispatcher:
        self._stop.clear()
        outbox.register_dispatcher(self._key, self)
        self._thread = threading.Thread(target=self._loop, name="control-dispatch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        outbox.unregister_dispatcher(self._key, self)
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=2 * self.s.control_timeout_s + 10)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        db_delay = self.s.control_retry_min_s
        while not self._stop.is_set():
            self._wake.clear()
            try:
                result = self.run_once()
                wait = self.s.control_poll_s if result.next_due_s is None else min(self.s.control_poll_s,
                                                                                   result.next_due_s)
                db_delay = self.s.control_retry_min_s
            except Exception:  # noqa: BLE001 - database down etc.: keep the rows, try again
                log.exception("control outbox pass failed; retrying in %.1f s", db_delay)
                wait, db_delay = db_delay, min(db_delay * 2, 30.0)
            self._wake.wait(max(wait, 0.05))

    # ------------------------------------------------------------ one pass
    def run_once(self, schools: set[str] | None = None) -> DispatchResult:
        """Send what is due (of these schools, or all); returns what happened."""
        result = DispatchResult()
        now = utcnow()
        claimed = self._claim(now, schools)
        if claimed:
            with self.sessions() as session:
                rows = session.execute(
                    select(ControlOutbox.id, ControlOutbox.school, ControlOutbox.control, ControlOutbox.attempts)
                    .where(ControlOutbox.sent_at.is_(None), ControlOutbox.school.in_(list(claimed)))
                    .order_by(ControlOutbox.id).limit(self.s.control_batch_max)).all()
            try:
                outcomes = self.publisher.publish([Control.model_validate_json(r.control) for r in rows])
            except Exception as exc:  # noqa: BLE001 - a bug or an odd network error must not strand the claim
                log.exception("control publish failed")
                outcomes = [f"publish failed: {exc!r}"[:500]] * len(rows)
            self._record(rows, outcomes, list(claimed.values()), result)
        result.next_due_s = self._next_due_s(schools)
        return result

    def _heads(self, session: Session, schools: set[str] | None):
        first = select(func.min(ControlOutbox.id)).where(ControlOutbox.sent_at.is_(None))
        if schools is not None:
            first = first.where(ControlOutbox.school.in_(list(schools)))
        return session.execute(select(ControlOutbox.id, ControlOutbox.school, ControlOutbox.next_attempt_at,
                                      ControlOutbox.claimed_by, ControlOutbox.claimed_until)
                               .where(ControlOutbox.id.in_(first.group_by(ControlOutbox.school)))
                               .order_by(ControlOutbox.id)).all()

    def _claim(self, now: dt.datetime, schools: set[str] | None) -> dict[str, int]:
        """Claim each due school by its oldest pending row; returns school -> that row's id."""
        claimed: dict[str, int] = {}
        until = now + dt.timedelta(seconds=self.s.control_claim_s)
        with self.sessions() as session:
            due = [h for h in self._heads(session, schools) if h.next_attempt_at <= now]
        if not due:
            return claimed
        with self.sessions.begin() as session:  # writes only: the UPDATE re-checks everything it relies on
            for head in due:
                taken = session.execute(
                    update(ControlOutbox)
                    .where(ControlOutbox.id == head.id, ControlOutbox.sent_at.is_(None),
                           (ControlOutbox.claimed_until.is_(None)) | (ControlOutbox.claimed_until < now)
                           | (ControlOutbox.claimed_by == self.id))
                    .values(claimed_by=self.id, claimed_until=until)
                    .execution_options(synchronize_session=False)).rowcount
                if taken == 1:
                    claimed[head.school] = head.id
        return claimed

    def _record(self, rows, outcomes: list[str | None], heads: list[int], result: DispatchResult) -> None:
        now = utcnow()
        changes = []
        for row, why in zip(rows, outcomes, strict=True):
            attempts = row.attempts + 1
            change = {"id": row.id, "attempts": attempts, "last_attempt_at": now}
            if why is None:
                change["sent_at"] = now
                result.sent.append(row.id)
            else:
                backoff = min(self.s.control_retry_max_s, self.s.control_retry_min_s * 2 ** (attempts - 1))
                change |= {"last_error": why[:2000], "next_attempt_at": now + dt.timedelta(seconds=backoff)}
                result.failed[row.id] = why
                if attempts & (attempts - 1) == 0:  # 1st, 2nd, 4th, 8th ... attempt: log, not every retry
                    log.warning("control message %s to %s not delivered (attempt %d): %s", row.id, row.school,
                                attempts, why)
            changes.append(change)
        with self.sessions.begin() as session:
            for change in changes:  # one statement per row: rows differ in what changes
                row_id = change.pop("id")
                session.execute(update(ControlOutbox).where(ControlOutbox.id == row_id).values(**change)
                                .execution_options(synchronize_session=False))
            session.execute(update(ControlOutbox)
                            .where(ControlOutbox.id.in_(heads), ControlOutbox.claimed_by == self.id)
                            .values(claimed_by=None, claimed_until=None)
                            .execution_options(synchronize_session=False))
        if result.sent:
            log.info("control messages delivered to the broker: %s", result.sent)

    def _next_due_s(self, schools: set[str] | None) -> float | None:
        now = utcnow()
        with self.sessions() as session:
            due = []
            for head in self._heads(session, schools):
                at = head.next_attempt_at
                if head.claimed_by not in (None, self.id) and head.claimed_until and head.claimed_until > at:
                    at = head.claimed_until  # another dispatcher is sending this school
                due.append((at - now).total_seconds())
        return max(min(due), 0.0) if due else None


# ---------------------------------------------------------------- the app's lifespan
def install(app) -> None:
    """Run a dispatcher over the app's database for as long as the app runs (wraps its lifespan).

    Settings: `app.state.ingest_settings` when set (tests), else `IngestSettings()` from the environment."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app):
        settings = getattr(app.state, "ingest_settings", None) or IngestSettings()
        dispatcher = None
        if settings.control_dispatch:
            dispatcher = ControlDispatcher(settings, app.state.sessionmaker).start()
        app.state.control_dispatcher = dispatcher
        try:
            async with inner(asgi_app) as state:
                yield state
        finally:
            if dispatcher is not None:
                await asyncio.to_thread(dispatcher.stop)
            app.state.control_dispatcher = None

    app.router.lifespan_context = lifespan
