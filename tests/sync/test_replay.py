"""Replays: the same signed event coming again long after it was stored, and not as the broker's redelivery,
is quarantined (`replay`); transport duplicates inside the window and broker redeliveries are absorbed; an
edge restarting confirms its unacknowledged rows with the central server so its late re-sends are not replays."""

from __future__ import annotations

import datetime as dt
import time
import urllib.error

import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, central_ids, new_school, register, wait_until
from mqtt_raw import RawClient
from sqlalchemy import func, select, update
from sync_helpers import EdgeSite, payload

from central_server.core.db import utcnow
from central_server.ingest.config import IngestSettings
from central_server.ingest.service import Incoming, store_batch
from central_server.ingest.tables import IngestEvent, IngestQuarantine
from central_server.ingest.worker import IngestWorker
from edge_agent import protocol as p
from edge_agent.sync.reconcile import confirm_unsent


def _quarantined(sessions) -> dict[str, int]:
    with sessions() as s:
        return dict(s.execute(select(IngestQuarantine.reason, func.count()).group_by(IngestQuarantine.reason)).all())


def test_window_decides_between_duplicate_and_replay(central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    ev = p.new_event(school, 1, "attendance.proposed", payload(1), key)
    topic = p.events_topic(school)
    keys = {school: key}.get
    with sessions.begin() as s:
        assert store_batch(s, [Incoming(topic, ev.to_bytes(), utcnow())], keys, replay_window_s=600)[0].status \
            == "stored"
    with sessions.begin() as s:  # a transport duplicate a moment later
        assert store_batch(s, [Incoming(topic, ev.to_bytes(), utcnow())], keys, replay_window_s=600)[0].status \
            == "duplicate"
    with sessions.begin() as s:  # pretend the event was stored an hour ago
        s.execute(update(IngestEvent).values(stored_at=utcnow() - dt.timedelta(hours=1)))
    with sessions.begin() as s:  # the broker's redelivery is still a duplicate
        out = store_batch(s, [Incoming(topic, ev.to_bytes(), utcnow(), redelivered=True)], keys, replay_window_s=600)
        assert out[0].status == "duplicate"
    with sessions.begin() as s:  # the same bytes, not redelivered, an hour later: a replay
        out = store_batch(s, [Incoming(topic, ev.to_bytes(), utcnow())], keys, replay_window_s=600)
        assert (out[0].status, out[0].reason) == ("quarantined", "replay")
    with sessions.begin() as s:  # without a window (store_batch's default) it is absorbed as before
        assert store_batch(s, [Incoming(topic, ev.to_bytes(), utcnow())], keys)[0].status == "duplicate"
    with sessions() as s:
        assert s.get(IngestEvent, str(ev.event_id)).deliveries == 4  # the replay is not counted as a delivery
        row = s.execute(select(IngestQuarantine)).scalar_one()
        assert row.reason == "replay" and row.event_id == str(ev.event_id) and bytes(row.payload) == ev.to_bytes()
    # a replayed member of a batch is judged on its own
    fresh = p.new_event(school, 2, "attendance.proposed", payload(2), key)
    batch = p.encode_event_batch([ev.to_bytes(), fresh.to_bytes()])
    with sessions.begin() as s:
        out = store_batch(s, [Incoming(topic, batch, utcnow())], keys, replay_window_s=600)
    assert [(o.status, o.reason) for o in out] == [("quarantined", "replay"), ("stored", None)]


@pytest.mark.mqtt
def test_worker_quarantines_a_late_replay_and_keeps_running(broker, central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = IngestWorker(IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS,
                                         replay_window_s=1.0, _env_file=None), sessions, apply=None)
    worker.start()
    assert worker.wait_connected(10)
    edge = RawClient(broker.port, school, "pw")
    topic = p.events_topic(school)
    try:
        ev = p.new_event(school, 1, "attendance.proposed", payload(1), key)
        assert edge.publish(topic, ev.to_bytes()) == 0
        assert edge.publish(topic, ev.to_bytes()) == 0  # at once: a transport duplicate
        wait_until(lambda: worker.counts["duplicate"] == 1, 10, msg="the duplicate")
        time.sleep(1.5)
        assert edge.publish(topic, ev.to_bytes()) == 0  # after the window: a replay
        wait_until(lambda: _quarantined(sessions).get("replay") == 1, 10, msg="the replay quarantined")
        after = p.new_event(school, 2, "attendance.proposed", payload(2), key)
        edge.publish(topic, after.to_bytes())
        wait_until(lambda: len(central_ids(sessions)) == 2, 10, msg="a later event stored")
        with sessions() as s:
            assert s.get(IngestEvent, str(ev.event_id)).deliveries == 2
        assert worker._thread.is_alive() and worker.counts["db_errors"] == 0
    finally:
        edge.close()
        worker.stop()


def test_restarting_edge_confirms_what_central_already_holds(central_db, central_api, tmp_path):
    """Rows 1-3 reached the central server but their PUBACKs died with the old process; 4-5 never left. The
    restarted edge asks first: 1-3 are marked sent (never re-sent, never a replay), 4-5 stay to be sent."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    events = [site.record(i) for i in range(5)]
    with sessions.begin() as s:
        store_batch(s, [Incoming(p.events_topic(school), e.to_bytes(), utcnow()) for e in events[:3]],
                    {school: key}.get)
    url = central_api(sessions)
    assert confirm_unsent(site.outbox, url, school, key) == [1, 2, 3]
    assert [r[0] for r in site.outbox.pending(0, 10)] == [4, 5]
    assert confirm_unsent(site.outbox, url, school, key) == []
    with pytest.raises(urllib.error.HTTPError, match="401"):  # a wrong key is refused: nothing is marked
        confirm_unsent(site.outbox, url, school, b"x" * 32)
    assert site.unsent() == 2
