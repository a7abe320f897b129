"""The control outbox (central -> edge downlink) as Prometheus gauges, read from the database at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central_server.control.outbox import backlog

log = logging.getLogger(__name__)


class ControlBacklogCollector(Collector):
    """`central_control_outbox_pending_messages{school}` and `central_control_outbox_oldest_age_seconds{school}`:
    what is still to be delivered to each school (erasures, package notices), and how long the oldest has waited.
    The totals without a school label are the sums / maximum, so an alert needs no aggregation."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            with self.sessions() as session:
                state = backlog(session)
        except SQLAlchemyError as exc:  # the database is down: the other metrics still answer
            log.warning("control outbox metrics unavailable: %s", exc)
            return
        pending = GaugeMetricFamily("central_control_outbox_pending_messages",
                                    "Control messages not yet delivered to the school.", labels=["school"])
        age = GaugeMetricFamily("central_control_outbox_oldest_age_seconds",
                                "Age of the school's oldest undelivered control message.", labels=["school"])
        for row in state["schools"]:
            pending.add_metric([row["school"]], row["pending"])
            age.add_metric([row["school"]], row["oldest_age_s"])
        yield pending
        yield age
        yield GaugeMetricFamily("central_control_outbox_backlog_messages",
                                "Control messages not yet delivered, all schools.", value=state["pending"])
