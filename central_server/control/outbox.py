"""The control outbox: queue signed control messages in the caller's transaction, see the backlog, and know
which dispatchers of this process serve which database (so that a commit wakes them).

`enqueue` is what every caller uses (erasure requests, package notices); the dispatcher (dispatcher.py)
delivers the rows. Its docstring says where it runs and how rows are delivered.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from central_server.core.config import get_settings
from central_server.core.db import make_engine, make_sessionmaker, utcnow
from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import ControlOutbox
from edge_agent.protocol import Control

log = logging.getLogger(__name__)


class Wakeable(Protocol):
    def wake(self) -> None: ...


_lock = threading.Lock()
_running: dict[str, set[Wakeable]] = {}          # database -> dispatchers running in this process
_default_sessions: dict[str, sessionmaker[Session]] = {}


def db_key(sessions: sessionmaker[Session]) -> str:
    """The identity of the database behind `sessions` (dispatchers of one database share it)."""
    return _db_key(_bind_of(sessions))


def register_dispatcher(key: str, dispatcher: Wakeable) -> None:
    with _lock:
        _running.setdefault(key, set()).add(dispatcher)


def unregister_dispatcher(key: str, dispatcher: Wakeable) -> None:
    with _lock:
        _running.get(key, set()).discard(dispatcher)


def _db_key(bind: Engine | None) -> str:
    return bind.url.render_as_string(hide_password=False) if bind is not None else ""


def _bind_of(sessions: sessionmaker[Session]) -> Engine | None:
    return sessions.kw.get("bind")


# ---------------------------------------------------------------- queueing
def enqueue(session: Session, messages: Sequence[Control]) -> list[ControlOutbox]:
    """Add signed control messages to the outbox in the caller's transaction; the dispatcher of this
    process is woken when it commits (others see the rows within `control_poll_s`)."""
    rows = []
    now = utcnow()
    for m in messages:
        if not isinstance(m, Control) or not m.sig:
            raise ValueError("only signed control messages (edge_agent.protocol.new_control) can be queued")
        rows.append(ControlOutbox(message_id=str(m.message_id), school=m.school, kind=m.kind.value,
                                  control=m.to_bytes().decode("utf-8"), created_at=now, attempts=0,
                                  next_attempt_at=now))
    session.add_all(rows)
    session.flush()
    if rows and not session.info.get("control_nudge"):
        session.info["control_nudge"] = True

        def _after_commit(s: Session) -> None:
            s.info.pop("control_nudge", None)
            try:
                nudge(s.get_bind())
            except Exception:  # noqa: BLE001 - a nudge is an optimisation; the dispatcher polls anyway
                log.debug("control outbox nudge failed", exc_info=True)

        event.listen(session, "after_commit", _after_commit, once=True)
    return rows


def nudge(bind: Engine | None) -> bool:
    """Wake the dispatchers of this process that serve this database; False when there is none."""
    with _lock:
        found = list(_running.get(_db_key(bind), ()))
    for d in found:
        d.wake()
    return bool(found)


def has_dispatcher(sessions: sessionmaker[Session]) -> bool:
    with _lock:
        return bool(_running.get(_db_key(_bind_of(sessions))))


def default_sessions(settings: IngestSettings) -> sessionmaker[Session]:
    """Sessions of the central database (`CENTRAL_INGEST_DATABASE_URL`, else `CENTRAL_DATABASE_URL`)."""
    url = settings.database_url or get_settings().database_url
    with _lock:
        if url not in _default_sessions:
            _default_sessions[url] = make_sessionmaker(make_engine(url))
        return _default_sessions[url]


def backlog(session: Session, now: dt.datetime | None = None) -> dict:
    """What is still to be delivered: totals and, per school, count, oldest age, attempts and last error."""
    now = now or utcnow()
    per_school = session.execute(
        select(ControlOutbox.school, func.count(ControlOutbox.id), func.min(ControlOutbox.created_at))
        .where(ControlOutbox.sent_at.is_(None)).group_by(ControlOutbox.school)).all()
    heads = {r.school: r for r in session.execute(select(ControlOutbox).where(ControlOutbox.id.in_(
        select(func.min(ControlOutbox.id)).where(ControlOutbox.sent_at.is_(None))
        .group_by(ControlOutbox.school)))).scalars()}
    schools = []
    for school, count, oldest in sorted(per_school, key=lambda r: r[2]):
        head = heads.get(school)
        schools.append({"school": school, "pending": count, "oldest_created_at": oldest.isoformat(),
                        "oldest_age_s": round((now - oldest).total_seconds(), 1),
                        "attempts": head.attempts if head else 0,
                        "last_error": head.last_error if head else None,
                        "next_attempt_at": head.next_attempt_at.isoformat() if head else None})
    oldest = min((s["oldest_created_at"] for s in schools), default=None)
    return {"pending": sum(s["pending"] for s in schools), "oldest_created_at": oldest,
            "oldest_age_s": max((s["oldest_age_s"] for s in schools), default=None),
            "failing": sum(1 for s in schools if s["last_error"]), "schools": schools}
