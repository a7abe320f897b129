"""Event batches: a backlog travels as batches of signed events (one PUBACK each), every event of a batch is
judged on its own at the central server, and a bad envelope is quarantined whole."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, central_ids, new_school, register, wait_until
from sqlalchemy import func, select
from sync_helpers import EdgeSite, RunningLink, link_settings, payload
from test_faults import assert_exactly_once, start_worker

from central_server.core.db import utcnow
from central_server.ingest.service import Incoming, store_batch
from central_server.ingest.tables import IngestEvent, IngestQuarantine
from edge_agent import protocol as p
from edge_agent.sync.mqtt_link import _chunks


def _events(school, key, seqs):
    return [p.new_event(school, s, "attendance.proposed", payload(s), key) for s in seqs]


def test_batch_roundtrip_is_canonical_and_bounded():
    school, key = new_school()
    evs = _events(school, key, range(1, 4))
    data = p.encode_event_batch([e.to_bytes() for e in evs])
    assert json.loads(data) == {"events": [e.body() for e in evs], "schema_version": p.SCHEMA_VERSION}
    decoded = p.decode_events(p.events_topic(school), data, {school: key}.get)
    assert [ev for _, ev in decoded] == evs
    assert [raw for raw, _ in decoded] == [e.to_bytes() for e in evs]  # members keep their signed bytes
    single = p.decode_events(p.events_topic(school), evs[0].to_bytes(), {school: key}.get)
    assert single == [(evs[0].to_bytes(), evs[0])]
    with pytest.raises(ValueError):
        p.encode_event_batch([])
    with pytest.raises(ValueError):
        p.encode_event_batch([evs[0].to_bytes()] * (p.BATCH_MAX_EVENTS + 1))


def test_chunks_respect_count_and_size():
    rows = [(i, b"x" * 5000) for i in range(1, 40)]
    chunks = _chunks(rows, 100)
    assert [r for c in chunks for r in c] == rows  # every row once, in order
    assert len(chunks) == 3  # 13 rows of 5,000 bytes fit in 64 KiB, 14 do not
    assert all(len(p.encode_event_batch([b for _, b in c])) <= p.MAX_PAYLOAD_BYTES for c in chunks)
    assert [len(c) for c in _chunks(rows[:7], 3)] == [3, 3, 1]


def test_each_member_is_judged_on_its_own(central_db):
    """One forged member and one from another school inside a batch: those two are quarantined with their
    reason, the rest stored; the same batch again is absorbed as redeliveries."""
    _, sessions = central_db
    school, key = new_school()
    other, other_key = new_school()
    register(sessions, school, key)
    register(sessions, other, other_key)
    good = _events(school, key, [1, 2, 3])
    forged = good[1].model_copy(update={"seq": 9})  # changed after signing
    foreign = _events(other, other_key, [1])[0]
    data = p.encode_event_batch([good[0].to_bytes(), forged.to_bytes(), good[2].to_bytes(), foreign.to_bytes()])
    item = Incoming(p.events_topic(school), data, utcnow())
    with sessions.begin() as s:
        out = store_batch(s, [item], {school: key, other: other_key}.get)
    assert [(o.status, o.reason) for o in out] == [("stored", None), ("quarantined", "bad_signature"),
                                                   ("stored", None), ("quarantined", "topic_mismatch")]
    with sessions.begin() as s:
        again = store_batch(s, [item], {school: key, other: other_key}.get)
    assert [o.status for o in again] == ["duplicate", "quarantined", "duplicate", "quarantined"]
    with sessions() as s:
        assert sorted(central_ids(sessions)) == sorted(str(e.event_id) for e in (good[0], good[2]))
        rows = s.execute(select(IngestQuarantine.reason, IngestQuarantine.payload)).all()
        assert sorted(r.reason for r in rows) == ["bad_signature"] * 2 + ["topic_mismatch"] * 2
        assert {bytes(r.payload) for r in rows if r.reason == "bad_signature"} == {forged.to_bytes()}
        assert s.get(IngestEvent, str(good[0].event_id)).body == good[0].to_bytes().decode()


@pytest.mark.parametrize("envelope", [
    {"events": "not a list", "schema_version": 1},
    {"events": [], "schema_version": 1},
    {"events": [{}] * (p.BATCH_MAX_EVENTS + 1), "schema_version": 1},
    {"events": [{"a": 1}], "schema_version": 2},
    {"events": [{"a": 1}], "schema_version": 1, "extra": True},
])
def test_a_bad_envelope_is_quarantined_whole(central_db, envelope):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    data = json.dumps(envelope).encode()
    with sessions.begin() as s:
        out = store_batch(s, [Incoming(p.events_topic(school), data, utcnow())], {school: key}.get)
    assert len(out) == 1 and out[0].status == "quarantined" and out[0].reason in ("schema", "schema_version")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(IngestQuarantine)) == 1
        assert s.scalar(select(func.count()).select_from(IngestEvent)) == 0


def test_a_member_that_is_not_an_object_is_quarantined(central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    ev = _events(school, key, [1])[0]
    data = b'{"events":[' + ev.to_bytes() + b',42,"x",null],"schema_version":1}'
    with sessions.begin() as s:
        out = store_batch(s, [Incoming(p.events_topic(school), data, utcnow())], {school: key}.get)
    assert [o.status for o in out] == ["stored", "quarantined", "quarantined", "quarantined"]


@pytest.mark.mqtt
def test_backlog_goes_out_in_batches_exactly_once(broker, central_db, tmp_path):
    """A day offline: 450 events wait in the outbox; when the link comes up they travel in a handful of
    messages (counted by a second subscriber), and the central database holds each event exactly once."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    for i in range(450):
        site.record(i)
    sizes: list[int] = []
    got = threading.Event()
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="batch-spy", protocol=mqtt.MQTTv5)
    spy.username_pw_set(CENTRAL_USER, CENTRAL_PASS)

    def on_message(c, u, msg):
        sizes.append(len(p.decode_events(msg.topic, msg.payload, {school: key}.get)))
        if sum(sizes) >= 450:
            got.set()

    spy.on_message = on_message
    subscribed = threading.Event()
    spy.on_connect = lambda c, u, f, rc, props: c.subscribe(p.events_topic(school), qos=1)
    spy.on_subscribe = lambda *a: subscribed.set()
    spy.connect("127.0.0.1", broker.port)
    spy.loop_start()
    assert subscribed.wait(10), "the spy's subscription"
    worker = start_worker(broker, sessions)
    link = RunningLink(link_settings(site, broker.port, "pw", batch_max=100))
    try:
        result = assert_exactly_once(site, sessions)
        assert result["events"] == 450
        assert got.wait(10)
        assert len(sizes) <= 10 and max(sizes) >= 90, sizes  # batches (bounded by 64 KiB), not 450 messages
        # a live event after the catch-up goes out on its own, at once
        site.record(450)
        wait_until(lambda: len(central_ids(sessions)) == 451, 10, msg="the live event")
        wait_until(lambda: sum(sizes) == 451, 5, msg="the spy to see it")
        assert sizes[-1] == 1
    finally:
        link.stop()
        worker.stop()
        spy.loop_stop()
        spy.disconnect()


def test_the_same_event_twice_in_one_batch_is_stored_once(central_db):
    """On PostgreSQL the rows go in through one INSERT .. SELECT FROM unnest(...) ON CONFLICT DO NOTHING:
    a repeat inside that statement is skipped like any other conflict."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    a, b = _events(school, key, [1, 2])
    data = p.encode_event_batch([a.to_bytes(), b.to_bytes(), a.to_bytes()])
    with sessions.begin() as s:
        out = store_batch(s, [Incoming(p.events_topic(school), data, utcnow())], {school: key}.get)
    assert [o.status for o in out] == ["stored", "stored", "duplicate"]
    with sessions() as s:
        assert s.get(IngestEvent, str(a.event_id)).deliveries == 2
        assert s.get(IngestEvent, str(b.event_id)).body == b.to_bytes().decode()
        assert s.get(IngestEvent, str(b.event_id)).created_at == b.created_at
