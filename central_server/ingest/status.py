"""Edge status: keep the latest heartbeat / last will of each school (the operations centre reads it), and the
cameras' decision counts of each day that the heartbeats carry (`EdgeDecisionDay`)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from central_server.core.db import utcnow
from central_server.ingest.tables import EdgeDecisionDay, EdgeStatus
from edge_agent.protocol import Heartbeat, ProtocolError, parse_status, parse_topic

log = logging.getLogger(__name__)


def store_status(session: Session, messages: list[tuple[str, bytes]]) -> int:
    """Upsert status rows; a malformed status is logged and skipped (it carries no attendance)."""
    n = 0
    for topic, payload in messages:
        try:
            school, channel = parse_topic(topic)
            if not payload:  # a cleared retained message
                continue
            status = parse_status(payload)
            if channel != "status" or status.school != school:
                raise ProtocolError("topic_mismatch", f"status of {status.school!r} on {topic!r}")
            if isinstance(status, Heartbeat) and status.sent_at.tzinfo is None:
                raise ProtocolError("schema", "heartbeat sent_at carries no UTC offset")
        except ProtocolError as exc:
            log.warning("ignored status message on %s: %s", topic, exc)
            continue
        row = session.get(EdgeStatus, school) or EdgeStatus(school=school)
        row.state = status.state
        # the edge's clock, so that a retained old heartbeat stays old; never later than now, so that an edge
        # clock running ahead cannot keep a dead agent "online" past the overview's offline threshold
        row.last_seen_at = min(status.sent_at, utcnow()) if isinstance(status, Heartbeat) else utcnow()
        row.outbox_backlog = status.outbox_backlog if isinstance(status, Heartbeat) else row.outbox_backlog
        row.payload = payload.decode("utf-8")
        session.add(row)
        if isinstance(status, Heartbeat) and status.recognitions is not None:
            _store_decisions(session, school, status)
        n += 1
    return n


def _store_decisions(session: Session, school: str, beat: Heartbeat) -> None:
    """Keep the day's counts of this agent run. Counts only grow within a run, so an older heartbeat delivered
    late (a retained message, a reconnect) never lowers them; a day more than one day after the heartbeat was
    sent is an edge clock error and is not kept."""
    rec = beat.recognitions
    since = rec.since if rec.since.tzinfo is not None else rec.since.replace(tzinfo=dt.UTC)
    if rec.day > (beat.sent_at + dt.timedelta(days=1)).date():
        log.warning("ignored decision counts of %s for %s: after the heartbeat's own day", school, rec.day)
        return
    row = session.get(EdgeDecisionDay, (school, rec.day, since))
    if row is None:
        row = EdgeDecisionDay(school=school, day=rec.day, since=since, accepted=0, review=0, unknown=0)
        session.add(row)
    row.accepted, row.review = max(row.accepted, rec.accepted), max(row.review, rec.review)
    row.unknown, row.updated_at = max(row.unknown, rec.unknown), utcnow()
