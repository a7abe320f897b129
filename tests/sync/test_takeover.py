"""Issue 15.1: a school login taking over another client's MQTT session (client-id takeover).

The attack: a school's login connects with the client id of the central ingest worker (or of another school's
edge), with clean start off and session expiry 0, then disconnects: the victim is kicked off and its persistent
session, with everything the broker had queued in it, is destroyed. Two defences, each tested here:
- the broker's school listener binds the client id to the login (`use_username_as_clientid`), so the attack
  only ever reaches the attacker's own session (`broker.school_port`, as the production listener 8883);
- the end-to-end acknowledgement: where a session is lost anyway (here: on the loopback-style `broker.port`,
  where a client picks its id, i.e. the broker config bypassed), the edge learns from the central server that
  events the broker had acknowledged never reached the database, and sends them again.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, new_school, register, wait_until
from mqtt_raw import RawClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select
from sync_helpers import EdgeSite, RunningLink, link_settings, payload
from test_faults import start_worker

from central_server.ingest.tables import IngestEvent, IngestQuarantine
from edge_agent import protocol as p
from edge_agent.sync.mqtt_link import Link, MqttLinkSettings

pytestmark = [pytest.mark.mqtt]


def takeover(port: int, user: str, password: str, client_id: str) -> int:
    """Connect as `client_id` with clean start off and session expiry 0, then disconnect; -> CONNACK code."""
    done = threading.Event()
    code: list[int] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.on_connect = lambda cl, u, f, rc, pr: (code.append(rc.value), done.set())
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
    c.loop_start()
    assert done.wait(5), "no CONNACK"
    c.disconnect()
    c.loop_stop()
    return code[0]


def held_rows(sessions, school: str) -> list:
    with sessions() as s:
        return s.execute(select(IngestEvent.event_id, IngestEvent.seq).where(IngestEvent.school == school)).all()


def quarantined(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(IngestQuarantine))


def test_school_login_cannot_kick_or_destroy_the_ingest_session(broker, central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw-b")
    broker.add_user("SCHOOL-A", "pw-a")
    worker = start_worker(broker, sessions)
    kicked = threading.Event()
    worker._client.on_disconnect = lambda *a: kicked.set()
    try:
        # while the worker is connected: the attacker is connected as itself, the worker stays on
        assert takeover(broker.school_port, "SCHOOL-A", "pw-a", CENTRAL_USER) == 0
        assert not kicked.wait(1.0), "a school login kicked the ingest worker off"
        # while the worker is away: its persistent session survives the attack and keeps queueing
        worker.stop()
        assert takeover(broker.school_port, "SCHOOL-A", "pw-a", CENTRAL_USER) == 0
        assert takeover(broker.school_port, "SCHOOL-A", "pw-a", f"{CENTRAL_USER}-2") == 0
        edge = RawClient(broker.school_port, school, "pw-b")
        try:
            events = [p.new_event(school, i, p.EventKind.ATTENDANCE_PROPOSED, payload(i), key) for i in range(1, 21)]
            # 0 = taken for a subscriber: the worker's session is still there (0x10 had it been destroyed)
            assert [edge.publish(p.events_topic(school), ev.to_bytes()) for ev in events] == [0] * 20
        finally:
            edge.close()
        worker = start_worker(broker, sessions)
        wait_until(lambda: len(held_rows(sessions, school)) == 20, 30, msg="the 20 queued events stored")
        assert sorted(r.seq for r in held_rows(sessions, school)) == list(range(1, 21))
        assert quarantined(sessions) == 0
    finally:
        worker.stop()


def test_queued_erasure_for_an_edge_survives_a_takeover_attempt(broker, tmp_path):
    school, key = new_school()
    broker.add_user(school, "pw-b")
    broker.add_user("SCHOOL-A", "pw-a")
    received: list[p.Control] = []

    def link() -> Link:
        return Link(MqttLinkSettings(school=school, key_hex=key.hex(), db_path=tmp_path / "b.sqlite3",
                                     port=broker.school_port, password="pw-b", _env_file=None),
                    on_control=received.append)

    first = link()
    first.start()
    assert first.wait_connected(10), broker.log()
    first.stop()                                    # offline: the broker keeps B's session and queues for it
    erasure = p.new_control(school, p.ControlKind.ERASURE_REQUEST, key,
                            erasure=p.ErasureRequest(student_id="094207000001", request_id="req-1"))
    central = RawClient(broker.port, CENTRAL_USER, CENTRAL_PASS)
    try:
        assert central.publish(p.control_topic(school), erasure.to_bytes()) == 0   # queued in B's session
    finally:
        central.close()
    for victim_id in (f"edge-{school}", school):   # the edge's own id, and the login the broker names it by
        assert takeover(broker.school_port, "SCHOOL-A", "pw-a", victim_id) == 0
    second = link()
    second.start()
    try:
        assert second.wait_connected(10)
        wait_until(lambda: received, 10, msg="the queued erasure delivered after the takeover attempts")
        assert [(c.kind, c.erasure.student_id) for c in received] == [(p.ControlKind.ERASURE_REQUEST,
                                                                        "094207000001")]
    finally:
        second.stop()


def test_events_lost_with_a_destroyed_session_are_resent_once(broker, central_db, tmp_path):
    """Config bypassed (`broker.port`: the client picks its id): the attack destroys the worker's session with
    20 events the broker had acknowledged to the school; the end-to-end ack gets all 20 stored exactly once."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw-b")
    broker.add_user("SCHOOL-A", "pw-a")
    worker = start_worker(broker, sessions)
    site = EdgeSite(tmp_path / "b.sqlite3", school, key)
    running = RunningLink(link_settings(site, broker.port, "pw-b", heartbeat_s=0.3, central_ack_timeout_s=1.0))
    try:
        assert running.link.wait_connected(10)
        worker.stop()                                   # the worker away; its session queues the school's events
        for i in range(1, 21):
            site.record(i)
        wait_until(lambda: site.unsent() == 0, 30, msg="the broker's PUBACK for all 20 events")
        assert held_rows(sessions, school) == []
        assert takeover(broker.port, "SCHOOL-A", "pw-a", CENTRAL_USER) == 0   # session resumed, then destroyed
        worker = start_worker(broker, sessions)
        wait_until(lambda: site.conn.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0] == 0,
                   60, msg="every event acknowledged end to end")
        rows = held_rows(sessions, school)
        assert sorted(r.seq for r in rows) == list(range(1, 21))
        assert sorted(r.event_id for r in rows) == sorted(site.event_ids())
        assert sorted(running.link.resent) == list(range(1, 21))   # the broker had lost every one of them
        assert quarantined(sessions) == 0
    finally:
        running.stop()
        worker.stop()
