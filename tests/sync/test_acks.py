"""The end-to-end acknowledgement's pieces without a broker: the `events.ack` control message on the wire, the
worker's acks of a committed batch and its answer to a heartbeat's question (against a real central database)."""

from __future__ import annotations

import json

import pytest
from conftest import new_school, register
from sync_helpers import payload

from central_server.ingest import acks
from central_server.ingest.service import Incoming, KeyStore, store_batch
from edge_agent import protocol as p


def test_events_ack_round_trip_and_other_kinds_unchanged():
    school, key = new_school()
    msg = p.new_control(school, p.ControlKind.EVENTS_ACK, key, ack=p.EventsAck(held=[(1, 3), (5, 5)], checked=(1, 6)))
    got = p.decode_control(p.control_topic(school), msg.to_bytes(), school, key)
    assert got.ack.held == [(1, 3), (5, 5)] and got.ack.checked == (1, 6)
    erasure = p.new_control(school, p.ControlKind.ERASURE_REQUEST, key,
                            erasure=p.ErasureRequest(student_id="094207000001", request_id="r"))
    assert "ack" not in json.loads(erasure.to_bytes())          # the older kinds keep their exact body
    forged = json.loads(msg.to_bytes())
    forged["ack"]["held"] = [[1, 6]]                              # a forged "everything is held"
    with pytest.raises(p.ProtocolError, match="signature"):
        p.decode_control(p.control_topic(school), json.dumps(forged).encode(), school, key)
    reversed_range = json.loads(msg.to_bytes())
    reversed_range["ack"]["held"] = [[3, 1]]
    reversed_range["sig"] = p.sign_obj(reversed_range, key)     # signed, but malformed
    with pytest.raises(p.ProtocolError, match="reversed"):
        p.decode_control(p.control_topic(school), json.dumps(reversed_range).encode(), school, key)


def test_worker_acks_what_the_database_holds(central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    events = [p.new_event(school, i, p.EventKind.ATTENDANCE_PROPOSED, payload(i), key) for i in (1, 2, 3, 5)]
    topic = p.events_topic(school)
    with sessions.begin() as s:
        first = store_batch(s, [Incoming(topic, ev.to_bytes(), p.utcnow()) for ev in events[:3]],
                            KeyStore(sessions).get)
    with sessions.begin() as s:  # 3 again (a duplicate is held too), 5 new, and 6 signed with a wrong key
        again = store_batch(s, [Incoming(topic, events[2].to_bytes(), p.utcnow()),
                                Incoming(topic, events[3].to_bytes(), p.utcnow()),
                                Incoming(topic, p.new_event(school, 6, p.EventKind.ATTENDANCE_PROPOSED, payload(6),
                                                            b"k" * 32).to_bytes(), p.utcnow())],
                            KeyStore(sessions).get)
    [ack1] = acks.batch_acks(first, KeyStore(sessions).get)
    [ack2] = acks.batch_acks(again, KeyStore(sessions).get)
    assert ack1.ack.held == [(1, 3)] and ack2.ack.held == [(3, 3), (5, 5)]   # never the quarantined seq 6
    assert acks.batch_acks(again, lambda s: None) == []                      # no key, no ack
    hb = p.Heartbeat(school=school, sent_at=p.utcnow(), outbox_backlog=0, unacked_from=1, unacked_to=7)
    other = p.Heartbeat(school="OTHER", sent_at=p.utcnow(), outbox_backlog=0, unacked_from=1, unacked_to=2)
    asked = acks.heartbeat_questions([(p.status_topic(school), hb.model_dump_json().encode()),
                                      (p.status_topic(school), b"{not json"),
                                      (p.status_topic(school), other.model_dump_json().encode())])
    assert asked == {school: (1, 7)}                     # a status naming another school asks nothing
    with sessions() as s:
        answer = acks.answer(s, school, asked[school], key)
    got = p.decode_control(p.control_topic(school), answer.to_bytes(), school, key)
    assert got.ack.checked == (1, 7) and got.ack.held == [(1, 3), (5, 5)]   # 4, 6, 7 are missing
