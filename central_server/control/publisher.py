"""`ControlPublisher`: queue control messages durably and have them delivered (`send`), or publish directly.

`send` adds the messages to the outbox in a transaction of its own; with a dispatcher running in this process
(the app's) it is woken, otherwise one delivery attempt is made here (CLI). It never raises because the broker
is down: the rows stay queued and the dispatcher retries them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from central_server.control import outbox
from central_server.control.broker import BrokerPublisher
from central_server.control.dispatcher import ControlDispatcher
from central_server.ingest.config import IngestSettings
from edge_agent.protocol import Control


class ControlPublisher(BrokerPublisher):
    """`send` queues control messages durably; `publish` / `publish_now` (BrokerPublisher) talk to the broker.

    `sessions`: the central database (default: `CENTRAL_INGEST_DATABASE_URL`, else `CENTRAL_DATABASE_URL`)."""

    def __init__(self, settings: IngestSettings, sessions: sessionmaker[Session] | None = None):
        super().__init__(settings)
        self.sessions = sessions

    def send(self, messages: Sequence[Control]) -> list[int]:
        """Queue the messages (one transaction) and have them delivered; returns their outbox ids."""
        sessions = self.sessions or outbox.default_sessions(self.s)
        with sessions.begin() as session:
            ids = [row.id for row in outbox.enqueue(session, messages)]
        if ids and not outbox.has_dispatcher(sessions):
            ControlDispatcher(self.s, sessions, publisher=self).run_once(schools={m.school for m in messages})
        return ids
