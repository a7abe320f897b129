"""Security and bad input through the real broker and worker: ACL per school, forged / replayed /
wrong-version / fuzzed events go to quarantine with a reason, and the worker keeps running."""

from __future__ import annotations

import json
import time

import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, central_ids, new_school, register, wait_until
from fuzz import fuzzed
from mqtt_raw import RawClient
from sqlalchemy import func, select
from sync_helpers import payload
from test_faults import start_worker

from central_server.ingest.tables import IngestEvent, IngestQuarantine
from edge_agent import protocol as p

pytestmark = [pytest.mark.mqtt]


def test_school_cannot_write_or_read_another_school(broker):
    broker.add_user("SCHOOL-A", "pw-a")
    broker.add_user("SCHOOL-B", "pw-b")
    central = RawClient(broker.port, CENTRAL_USER, CENTRAL_PASS)
    central.subscribe("edu/v1/+/events")
    a = RawClient(broker.port, "SCHOOL-A", "pw-a")
    b = RawClient(broker.port, "SCHOOL-B", "pw-b")
    a.subscribe("edu/v1/SCHOOL-B/control")  # granted, but the ACL never delivers B's messages to A
    b.subscribe("edu/v1/SCHOOL-B/control")
    try:
        assert a.publish(p.events_topic("SCHOOL-A"), b"own") == 0
        assert a.publish(p.events_topic("SCHOOL-B"), b"forged") == 0x87     # not authorised
        assert a.publish(p.status_topic("SCHOOL-B"), b"offline") == 0x87
        assert a.publish(p.control_topic("SCHOOL-B"), b"x") == 0x87         # schools never write control
        assert central.publish(p.control_topic("SCHOOL-B"), b"ctl") == 0
        wait_until(lambda: b.messages, 5, msg="B's control message")
        wait_until(lambda: central.messages, 5, msg="A's own event at the central subscriber")
        time.sleep(0.3)
        assert [m.payload for m in central.messages] == [b"own"]
        assert a.messages == []                                            # A cannot read B's control
        assert RawClient(broker.port, "SCHOOL-A", "wrong").connect_code == 0x87
        assert RawClient(broker.port, None, None).connect_code == 0x87      # no anonymous logins
    finally:
        for c in (central, a, b):
            c.close()


def _count(sessions, model, **where):
    with sessions() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q)


def test_bad_events_are_quarantined_and_worker_keeps_running(broker, central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = start_worker(broker, sessions)
    edge = RawClient(broker.port, school, "pw")
    topic = p.events_topic(school)
    try:
        good = p.new_event(school, 1, "attendance.proposed", payload(1), key)
        assert edge.publish(topic, good.to_bytes()) == 0
        # the same bytes again at once (a transport duplicate, inside the replay window) -> stored once,
        # counted as a second delivery (a late replay is quarantined: test_replay.py)
        assert edge.publish(topic, good.to_bytes()) == 0
        # replay under a new id with the same sequence number (e.g. an edge restored from an old backup)
        reused = p.new_event(school, 1, "attendance.proposed", payload(1), key)
        edge.publish(topic, reused.to_bytes())
        # same id, different content, correctly signed
        conflict = p.new_event(school, 2, "attendance.corrected", payload(2), key, event_id=good.event_id)
        edge.publish(topic, conflict.to_bytes())
        # forged signature (another key) and a wrong schema version (correctly signed)
        edge.publish(topic, p.new_event(school, 3, "attendance.proposed", payload(3), b"k" * 32).to_bytes())
        v2 = good.body() | {"schema_version": 2, "seq": 4}
        v2["sig"] = p.sign_obj(v2, key)
        edge.publish(topic, json.dumps(v2).encode())
        # an event of another school on this school's topic
        other = p.new_event("OTHER", 5, "attendance.proposed", payload(5), key)
        edge.publish(topic, other.to_bytes())
        # 200 fuzzed payloads
        for data in fuzzed(good.to_bytes(), 200, seed=6):
            assert edge.publish(topic, data) == 0
        # and the worker still stores a good event afterwards
        after = p.new_event(school, 2, "gate.arrival", p.GateArrivalPayload(
            student_id="094207000002", date=good.payload.date, gate="cổng chính",
            source=p.Source(kind="camera", camera_id="gate-1"), observed_at=p.utcnow()), key)
        edge.publish(topic, after.to_bytes())
        wait_until(lambda: _count(sessions, IngestQuarantine) >= 205 and len(central_ids(sessions)) >= 2, 30,
                   msg="all messages processed")
        time.sleep(0.3)
        assert sorted(central_ids(sessions)) == sorted([str(good.event_id), str(after.event_id)])
        with sessions() as s:
            assert s.get(IngestEvent, str(good.event_id)).deliveries == 2
            reasons = dict(s.execute(select(IngestQuarantine.reason, func.count())
                                     .group_by(IngestQuarantine.reason)).all())
        assert sum(reasons.values()) == 205
        for reason in ("seq_reused", "event_id_conflict", "schema_version", "topic_mismatch"):
            assert reasons.pop(reason) >= 1, reason
        assert reasons.pop("bad_signature") >= 1
        assert set(reasons) <= {"not_json", "schema", "too_large", "bad_signature", "unknown_school",
                                "schema_version", "topic_mismatch", "invalid"}
        assert "invalid" not in reasons  # every fuzzed payload got a specific reason, none crashed decoding
        assert worker._thread.is_alive() and worker.counts["db_errors"] == 0
    finally:
        edge.close()
        worker.stop()


def test_tls_with_the_pilot_ca(broker_factory, central_db, tmp_path):
    """make_ca.sh issues the broker certificate; an edge that trusts only that CA connects over TLS."""
    import subprocess

    from conftest import HW_DIR
    from sync_helpers import EdgeSite, RunningLink, link_settings
    from test_faults import assert_exactly_once

    ca = tmp_path / "ca"
    subprocess.run(["sh", str(HW_DIR / "make_ca.sh"), str(ca), "127.0.0.1"], check=True, capture_output=True)
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    tls_broker = broker_factory(users={CENTRAL_USER: CENTRAL_PASS, school: "pw"},
                                tls={"ca": ca / "ca.crt", "cert": ca / "server.crt", "key": ca / "server.key"})
    worker = start_worker(tls_broker, sessions)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, tls_broker.tls_port, "pw", tls_ca=ca / "ca.crt"))
    try:
        for i in range(20):
            site.record(i)
        assert_exactly_once(site, sessions, timeout=30)
    finally:
        link.stop()
        worker.stop()
