"""The central control outbox: an erasure request (or package notice) asked for while the broker is down is kept
in `ingest_control_outbox`, retried with a back-off, and delivered once the broker is back: to a school's
persistent session exactly once, also across a restart of the central process, and into a running edge service's
live FAISS index within 60 s of the broker's return. Real Mosquitto (stopped and started), real databases."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, new_school, register, wait_until
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, inspect, select

from central_server.control.dispatcher import ControlDispatcher
from central_server.control.outbox import backlog, enqueue
from central_server.control.publisher import ControlPublisher
from central_server.control.service import UnknownSchool, erasure_message, request_erasure
from central_server.core.db import Base, make_engine, make_sessionmaker, utcnow
from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import ControlOutbox
from edge_agent.protocol import Control, ControlKind, control_topic, decode_control

pytestmark = [pytest.mark.mqtt]


def fast(broker, **kw) -> IngestSettings:
    """Central settings against the test broker, with short back-offs so that the tests run in seconds."""
    values = dict(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS, control_poll_s=0.2,
                  control_retry_min_s=0.2, control_retry_max_s=1.0, control_timeout_s=1.0, control_claim_s=8.0)
    return IngestSettings(_env_file=None, **(values | kw))


class SchoolSession:
    """The school's persistent MQTT session as its edge agent holds it (client id edge-<school>, clean start off)."""

    def __init__(self, port: int, school: str, password: str = "pw"):
        self.port, self.school, self.password = port, school, password
        self.messages: list[tuple[str, bytes]] = []
        self.client: mqtt.Client | None = None

    def connect(self) -> SchoolSession:
        subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{self.school}", protocol=mqtt.MQTTv5)
        c.username_pw_set(self.school, self.password)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(control_topic(self.school), qos=1)
        c.on_subscribe = lambda *a: subscribed.set()
        c.on_message = lambda cl, u, m: self.messages.append((m.topic, bytes(m.payload)))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", self.port, keepalive=30, clean_start=False, properties=props)
        c.loop_start()
        assert subscribed.wait(10), "the school could not subscribe to its control topic"
        self.client = c
        return self

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    def verified(self, key: bytes) -> list[Control]:
        return [decode_control(topic, payload, self.school, key) for topic, payload in self.messages]


def row(sessions, row_id: int) -> ControlOutbox:
    with sessions() as s:
        return s.get(ControlOutbox, row_id)


def pending(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(ControlOutbox.id)).where(ControlOutbox.sent_at.is_(None)))


def test_migration_creates_the_outbox_as_the_model_says(migrated):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    _, engine, _ = migrated
    assert "ingest_control_outbox" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diffs if "ingest_control_outbox" in repr(d)] == []


def test_the_row_is_part_of_the_callers_transaction(control_db):
    _, sessions = control_db
    school, key = new_school()
    register(sessions, school, key)
    with pytest.raises(RuntimeError, match="the caller's own change failed"):
        with sessions.begin() as s:
            request_erasure(s, school, "094207000001", "DSR-ROLLBACK")
            raise RuntimeError("the caller's own change failed")
    assert pending(sessions) == 0  # rolled back with the change it belonged to
    with pytest.raises(UnknownSchool):
        with sessions.begin() as s:
            request_erasure(s, "T-NO-KEY", "094207000001", "DSR-X")
    unsigned = erasure_message(school, key, "094207000001", "DSR-U").model_copy(update={"sig": ""})
    with pytest.raises(ValueError, match="signed"):
        with sessions.begin() as s:
            enqueue(s, [unsigned])
    assert pending(sessions) == 0
    with sessions.begin() as s:
        r = request_erasure(s, school, "094207000001", "DSR-OK")
    stored = row(sessions, r.id)
    assert stored.sent_at is None and stored.attempts == 0 and stored.kind == ControlKind.ERASURE_REQUEST.value
    assert decode_control(control_topic(school), stored.control.encode(), school, key).erasure.request_id == "DSR-OK"
    # the request is audited in the same transaction (Law 91/2025: every processing of a student's data)
    from central_server.core.tables import AuditLog

    with sessions() as s:
        audits = s.execute(select(AuditLog.action, AuditLog.target, AuditLog.detail)).all()
    assert [(a.action, a.target) for a in audits] == [("student.erasure_requested", "student:094207000001")]
    assert audits[0].detail == {"school": school, "request_id": "DSR-OK", "control_outbox_id": r.id}


def test_erasure_asked_while_broker_down_is_delivered_once_it_is_back(control_db, broker):
    """(a) The call succeeds with the broker down; the row is pending with the error; the dispatcher retries with a
    back-off and, once the broker is back, the school's persistent session gets each message exactly once, in
    order, signed."""
    _, sessions = control_db
    settings = fast(broker)
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    edge = SchoolSession(broker.port, school).connect()
    edge.close()  # the school is offline; its session (and subscription) stays at the broker
    broker.stop()

    first = erasure_message(school, key, "094207000002", "DSR-2026-101")
    second = erasure_message(school, key, "094207000003", "DSR-2026-102")
    ids = ControlPublisher(settings, sessions).send([first, second])  # no exception: queued
    r = row(sessions, ids[0])
    assert r.sent_at is None and r.attempts == 1 and "unreachable" in r.last_error
    with sessions() as s:
        b = backlog(s)
    assert b["pending"] == 2 and b["failing"] == 1 and b["oldest_age_s"] >= 0
    assert b["schools"][0]["school"] == school and b["schools"][0]["last_error"]

    dispatcher = ControlDispatcher(settings, sessions).start()
    try:
        wait_until(lambda: row(sessions, ids[0]).attempts >= 3, 20, msg="retries while the broker is down")
        r = row(sessions, ids[0])
        assert r.sent_at is None and r.next_attempt_at > r.last_attempt_at  # backing off, not spinning
        broker.start()
        back = time.monotonic()
        wait_until(lambda: pending(sessions) == 0, 60, msg="delivery after the broker came back")
        assert time.monotonic() - back < 60
        print(f"delivered {time.monotonic() - back:.2f} s after the broker came back")
        edge.connect()
        wait_until(lambda: len(edge.messages) >= 2, 10, msg="queued messages at the school")
        time.sleep(1.0)  # nothing more comes: exactly once
        got = edge.verified(key)
        assert [m.message_id for m in got] == [first.message_id, second.message_id]
        assert [m.erasure.student_id for m in got] == ["094207000002", "094207000003"]
        done = row(sessions, ids[0])
        assert done.sent_at is not None and done.attempts >= 4 and done.claimed_by is None
        with sessions() as s:
            assert backlog(s)["pending"] == 0
    finally:
        dispatcher.stop()
        edge.close()


def test_school_without_a_session_is_kept_until_it_has_one(control_db, broker):
    """0x10 "no matching subscribers": nobody would receive it, so it is not taken as sent (as before this
    outbox); it goes out once the school's edge has connected."""
    _, sessions = control_db
    settings = fast(broker)
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    [rid] = ControlPublisher(settings, sessions).send([erasure_message(school, key, "094207000004", "DSR-NEW")])
    r = row(sessions, rid)
    assert r.sent_at is None and "0x10" in r.last_error
    edge = SchoolSession(broker.port, school).connect()
    dispatcher = ControlDispatcher(settings, sessions).start()
    try:
        wait_until(lambda: len(edge.messages) == 1, 30, msg="delivery once the school has a session")
        time.sleep(0.5)
        assert [m.erasure.request_id for m in edge.verified(key)] == ["DSR-NEW"]
        wait_until(lambda: row(sessions, rid).sent_at is not None, 10, msg="row marked sent")
    finally:
        dispatcher.stop()
        edge.close()


def test_central_restart_between_enqueue_and_send(control_db, broker):
    """(b) The process that queued the request stops, and another dies while it holds the school (killed between
    its claim and the PUBACK); a new dispatcher over a new engine on the same database still delivers, once."""
    url, sessions = control_db
    settings = fast(broker)
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    SchoolSession(broker.port, school).connect().close()
    broker.stop()

    with sessions.begin() as s:
        rid = request_erasure(s, school, "094207000005", "DSR-RESTART").id
    first = ControlDispatcher(settings, sessions).start()
    wait_until(lambda: row(sessions, rid).attempts >= 1, 20, msg="first attempt")
    first.stop()
    wait_until(lambda: row(sessions, rid).next_attempt_at <= utcnow(), 5, msg="the back-off to pass")
    killed = ControlDispatcher(settings, sessions)
    assert killed._claim(utcnow(), None) == {school: rid}  # claimed, then the process is gone
    sessions.kw["bind"].dispose()

    engine = make_engine(url)  # the restarted central server
    try:
        restarted = make_sessionmaker(engine)
        broker.start()
        dispatcher = ControlDispatcher(settings, restarted).start()
        try:
            time.sleep(1.5)  # the dead dispatcher's claim (8 s) still holds the school: nobody sends it twice
            held = row(restarted, rid)
            assert held.sent_at is None and held.claimed_by == killed.id
            wait_until(lambda: row(restarted, rid).sent_at is not None, 60, msg="delivery after the restart")
        finally:
            dispatcher.stop()
        done = row(restarted, rid)
        assert done.claimed_by is None and done.attempts >= 2
        edge = SchoolSession(broker.port, school).connect()
        try:
            wait_until(lambda: edge.messages, 10, msg="the queued message at the school")
            time.sleep(1.0)
            assert [m.erasure.request_id for m in edge.verified(key)] == ["DSR-RESTART"]
        finally:
            edge.close()
    finally:
        engine.dispose()


def test_cli_erase_queues_when_the_broker_is_down(control_db, broker, monkeypatch):
    """`central-server ingest erase` succeeds with the broker down (queued, says so) and sends when it is up;
    an unknown school is refused and nothing is written."""
    from typer.testing import CliRunner

    from central_server.cli import ingest_cli as cli

    url, sessions = control_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    edge = SchoolSession(broker.port, school).connect()
    edge.close()
    for name, value in {"DATABASE_URL": url, "PORT": str(broker.port), "USERNAME": CENTRAL_USER,
                        "PASSWORD": CENTRAL_PASS, "CONTROL_TIMEOUT_S": "1", "CONTROL_CLAIM_S": "8",
                        "CONTROL_RETRY_MIN_S": "0.2"}.items():
        monkeypatch.setenv(f"CENTRAL_INGEST_{name}", value)
    runner = CliRunner()
    broker.stop()
    out = runner.invoke(cli, ["erase", school, "094207000006", "--request-id", "DSR-CLI-1"])
    assert out.exit_code == 0, out.output
    assert "hàng đợi" in out.output and pending(sessions) == 1
    out = runner.invoke(cli, ["erase", "T-NO-KEY", "094207000006"])
    assert out.exit_code == 2 and "Chưa có khóa" in out.output and pending(sessions) == 1
    broker.start()
    time.sleep(0.3)  # past the first back-off
    out = runner.invoke(cli, ["erase", school, "094207000007", "--request-id", "DSR-CLI-2"])
    assert out.exit_code == 0 and "Đã gửi" in out.output, out.output
    assert pending(sessions) == 0
    edge.connect()
    try:
        wait_until(lambda: len(edge.messages) >= 2, 10, msg="both requests at the school")
        time.sleep(0.5)
        assert [m.erasure.request_id for m in edge.verified(key)] == ["DSR-CLI-1", "DSR-CLI-2"]
    finally:
        edge.close()


# ---------------------------------------------------------------- (c) end to end, the app's own dispatcher
def test_erasure_during_broker_outage_leaves_the_running_edge_within_60s(tmp_path, broker, edge_service):
    """(c) The central app (its lifespan runs the dispatcher) takes an erasure while the broker is down; the
    status API shows it pending with the error; the broker comes back and the student's templates leave the
    running edge service's live index within 60 s."""
    from fastapi.testclient import TestClient

    from central_server.app import create_app
    from central_server.core.auth import create_user
    from central_server.core.config import Settings
    from central_server.ingest.service import set_school_key
    from edge_agent.store.school_keys import read_key

    service, demo, (obama, biden, _) = edge_service
    school = service.s.school_code
    key = read_key(demo.workdir / "keys")
    app = create_app(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'central.sqlite3'}",
                              argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1, log_json=False,
                              log_level="WARNING"))
    Base.metadata.create_all(app.state.engine)
    app.state.ingest_settings = IngestSettings(_env_file=None, port=broker.port, username=CENTRAL_USER,
                                               password=CENTRAL_PASS)  # production back-offs (up to 15 s)
    sessions = app.state.sessionmaker
    with sessions.begin() as s:
        set_school_key(s, school, key)
        create_user(s, "so_canbo", "Matkhau-2025!", "province_staff")
    try:
        with TestClient(app) as client:
            assert app.state.control_dispatcher is not None  # started by the app's lifespan
            token = client.post("/api/auth/token", data={"username": "so_canbo", "password": "Matkhau-2025!"})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            broker.stop()
            with sessions.begin() as s:  # what a central erasure request does, in its own transaction
                rid = request_erasure(s, school, biden, "DSR-2026-143").id
            wait_until(lambda: row(sessions, rid).last_error, 20, msg="the first (failed) attempt")
            status = client.get("/api/ingest/control-outbox", headers=headers).json()
            assert status["pending"] == 1 and status["failing"] == 1 and status["dispatcher_running"]
            assert status["schools"][0]["school"] == school and status["oldest_age_s"] >= 0
            assert biden in service.gallery
            time.sleep(3)  # a few more failed attempts: the back-off grows
            broker.start()
            back = time.monotonic()
            wait_until(lambda: biden not in service.gallery, 60, msg="erasure in the running service's gallery")
            elapsed = time.monotonic() - back
            assert elapsed < 60 and obama in service.gallery
            print(f"erasure in the live index {elapsed:.1f} s after the broker came back")
            # the edge may apply the erasure before the dispatcher has recorded the broker's PUBACK
            wait_until(lambda: row(sessions, rid).sent_at, 10, msg="the row marked sent on PUBACK")
            assert client.get("/api/ingest/control-outbox", headers=headers).json()["pending"] == 0
            assert client.get("/api/ingest/control-outbox").status_code == 401
        assert app.state.control_dispatcher is None  # stopped with the app
    finally:
        app.state.engine.dispose()
