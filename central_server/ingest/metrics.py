"""Prometheus metrics of the ingest: the worker's counters (its own process, own HTTP port) and the edges'
last heartbeat as the web application sees it in the database.

The worker is a process of its own (`central-server ingest run`, one per `central-ingest@N` unit): its
counters live in the default registry of that process and are served by `prometheus_client.start_http_server`
on `CENTRAL_INGEST_METRICS_PORT` (bound to `CENTRAL_INGEST_METRICS_HOST`, loopback by default; one port per
worker, e.g. 9101, 9102). Counters move only after the batch's transaction has committed, so a batch retried
after a database error is counted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central_server.core.db import utcnow
from central_server.ingest.tables import EdgeStatus

log = logging.getLogger(__name__)
UNKNOWN_SCHOOL = "unknown"  # quarantined input whose school has no key here: never a label value chosen by a sender

EVENTS = Counter("central_ingest_events_total", "Events judged by the ingest, by school and outcome "
                 "(stored, duplicate, quarantined).", ["school", "outcome"])
QUARANTINED = Counter("central_ingest_quarantined_total", "Events quarantined, by school and reason.",
                      ["school", "reason"])
BATCH_SECONDS = Histogram("central_ingest_batch_duration_seconds",
                          "Time to verify, store and commit one batch of MQTT messages.",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
DB_ERRORS = Counter("central_ingest_db_errors_total", "Batches that failed on the database and were retried.")
CONNECTED = Gauge("central_ingest_mqtt_connected", "1 while the worker is connected and subscribed, else 0.")


def count_outcomes(outcomes: Sequence, known: Callable[[str], bool]) -> None:
    """Count committed outcomes (`service.StoreOutcome`); a school without a key is counted as UNKNOWN_SCHOOL."""
    for o in outcomes:
        school = o.school if o.school and known(o.school) else UNKNOWN_SCHOOL
        EVENTS.labels(school, o.status).inc()
        if o.status == "quarantined":
            QUARANTINED.labels(school, o.reason or "invalid").inc()


class EdgeStatusCollector(Collector):
    """Each school's last heartbeat as stored by the ingest: `central_edge_last_seen_age_seconds{school}`,
    `central_edge_online{school}` (1 when its last status was a heartbeat, 0 after its last will) and the
    outbox backlog the edge reported, `central_edge_outbox_backlog_events{school}`."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = utcnow()
        try:
            with self.sessions() as session:
                rows = session.execute(select(EdgeStatus.school, EdgeStatus.state, EdgeStatus.last_seen_at,
                                              EdgeStatus.outbox_backlog)).all()
        except SQLAlchemyError as exc:  # the database is down: the other metrics still answer
            log.warning("edge status metrics unavailable: %s", exc)
            return
        age = GaugeMetricFamily("central_edge_last_seen_age_seconds", "Seconds since the edge's last status.",
                                labels=["school"])
        online = GaugeMetricFamily("central_edge_online", "1 when the edge's last status was a heartbeat.",
                                   labels=["school"])
        backlog = GaugeMetricFamily("central_edge_outbox_backlog_events",
                                    "Unsent events the edge reported in its last heartbeat.", labels=["school"])
        for school, state, seen, waiting in rows:
            age.add_metric([school], max(0.0, (now - seen).total_seconds()))
            online.add_metric([school], 0.0 if state == "offline" else 1.0)
            if waiting is not None:
                backlog.add_metric([school], waiting)
        yield age
        yield online
        yield backlog
