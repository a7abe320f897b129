"""Fault tests against real Mosquitto brokers (private ports, production config) and real databases:
every event recorded at the school reaches the central database exactly once."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, PY, central_ids, new_school, register, wait_until
from mqtt_raw import RawClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import func, select
from sync_helpers import EdgeSite, RunningLink, link_settings, payload

from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import IngestEvent, IngestQuarantine
from central_server.ingest.worker import IngestWorker
from edge_agent import protocol as p

pytestmark = [pytest.mark.mqtt]
HERE = Path(__file__).resolve().parent


def start_worker(broker, sessions) -> IngestWorker:
    worker = IngestWorker(IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS,
                                         _env_file=None), sessions, apply=None)
    worker.start()
    assert worker.wait_connected(10), broker.log()
    return worker


def assert_exactly_once(site: EdgeSite, sessions, timeout: float = 60) -> dict:
    """Central holds every committed edge event once, with contiguous sequence numbers, nothing quarantined."""
    wait_until(lambda: site.unsent() == 0, timeout, msg=f"edge outbox to drain ({site.unsent()} left)")
    edge = site.event_ids()
    wait_until(lambda: len(central_ids(sessions)) >= len(edge), timeout, msg="central to catch up")
    time.sleep(0.3)
    with sessions() as s:
        rows = s.execute(select(IngestEvent.event_id, IngestEvent.seq, IngestEvent.deliveries)
                         .where(IngestEvent.school == site.school)).all()
        quarantined = s.scalar(select(func.count()).select_from(IngestQuarantine))
    ids = [r.event_id for r in rows]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(edge), "central and edge disagree"
    assert sorted(r.seq for r in rows) == list(range(1, len(edge) + 1))
    assert quarantined == 0
    # the transactional outbox: every attendance row has exactly its own event
    att = tuple(site.conn.execute("SELECT count(*), count(DISTINCT event_id) FROM attendance").fetchone())
    assert att == (len(edge), len(edge))
    return {"events": len(edge), "deliveries": sum(r.deliveries for r in rows)}


def stream(site: EdgeSite, n: int, start: int = 0, pause: float = 0.005) -> threading.Thread:
    def run():
        for i in range(start, start + n):
            site.record(i)
            time.sleep(pause)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_kill9_edge_publisher_50_runs(broker, central_db, tmp_path):
    _, sessions = central_db
    school, key = new_school()
    broker_pw = "pw-" + school
    broker.add_user(school, broker_pw)
    register(sessions, school, key)
    worker = start_worker(broker, sessions)
    db = tmp_path / "edge.sqlite3"
    rng = random.Random(6)
    index = 0
    try:
        for _run in range(50):
            proc = subprocess.Popen([PY, str(HERE / "edge_proc.py"), str(db), school, key.hex(), str(broker.port),
                                     broker_pw, str(index), "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            line = proc.stdout.readline()
            assert line.strip() == b"ready", proc.stderr.read().decode()[-2000:]
            time.sleep(rng.uniform(0.0, 0.08))
            proc.kill()  # SIGKILL: mid-transaction, mid-publish, mid-PUBACK bookkeeping
            proc.wait()
            index += 12
        drain = subprocess.run([PY, str(HERE / "edge_proc.py"), str(db), school, key.hex(), str(broker.port),
                                broker_pw, str(index), "0", "--drain"], capture_output=True, timeout=120)
        assert drain.returncode == 0, drain.stderr.decode()[-2000:]
        site = EdgeSite(db, school, key)
        result = assert_exactly_once(site, sessions)
        assert result["events"] > 50  # events were really produced across the runs
        assert worker.counts["duplicate"] == result["deliveries"] - result["events"]
    finally:
        worker.stop()


@pytest.mark.parametrize("kill", [False, True], ids=["graceful", "crash"])
def test_broker_restart_mid_stream(broker, central_db, tmp_path, kill):
    """Graceful restart keeps the broker's queue; a crash loses its unsaved part, which the edge re-sends
    after reconciliation (see test_reconcile_recovers_broker_crash) - here the outbox alone must be enough
    for graceful, and for crash we only require: no duplicates stored, nothing stored that was not sent."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = start_worker(broker, sessions)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, broker.port, "pw"))
    try:
        t = stream(site, 300)
        wait_until(lambda: len(central_ids(sessions)) >= 60, 30, msg="first events")
        broker.restart(kill=kill, down_s=0.5)
        t.join()
        if not kill:
            assert_exactly_once(site, sessions)
        else:
            wait_until(lambda: site.unsent() == 0, 60, msg="edge outbox to drain")
            time.sleep(1.0)
            ids = central_ids(sessions)
            assert len(ids) == len(set(ids)) and set(ids) <= set(site.event_ids())
    finally:
        link.stop()
        worker.stop()


def test_network_cut(broker, central_db, tmp_path):
    """The broker is stopped for 3 s while the school keeps recording: the outbox holds the events and the
    heartbeat reports the backlog; after the cut everything arrives once."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = start_worker(broker, sessions)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, broker.port, "pw"))
    try:
        stream(site, 50).join()
        wait_until(lambda: site.unsent() == 0, 30, msg="first drain")
        broker.stop()
        stream(site, 150, start=50).join()
        time.sleep(1.0)
        assert site.unsent() == 150  # nothing was marked sent without a PUBACK
        assert link.link.heartbeat().outbox_backlog == 150
        broker.start()
        assert_exactly_once(site, sessions)
    finally:
        link.stop()
        worker.stop()


def test_ingest_stopped_and_restarted(broker, central_db, tmp_path):
    """The worker stops mid-stream; the broker queues for its persistent session; a new worker drains it."""
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = start_worker(broker, sessions)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, broker.port, "pw"))
    try:
        t = stream(site, 300)
        wait_until(lambda: len(central_ids(sessions)) >= 50, 30, msg="first events")
        worker.stop()
        held = len(central_ids(sessions))
        t.join()
        wait_until(lambda: site.unsent() == 0, 30, msg="edge delivered to the broker while ingest is down")
        assert len(central_ids(sessions)) == held  # nothing stored while down...
        worker = start_worker(broker, sessions)  # ...and all of it after the restart
        assert_exactly_once(site, sessions)
    finally:
        link.stop()
        worker.stop()


def test_ingest_killed_between_receive_and_commit(broker, migrated, tmp_path):
    """kill -9 of the ingest worker process (manual ack only after commit): the broker redelivers, the
    idempotent store absorbs the repeats. A fully migrated database: the worker also calls the attendance
    module's apply_event (these test students are not in the master data: stored and flagged)."""
    url, _, sessions = migrated
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    env = {"CENTRAL_INGEST_DATABASE_URL": url, "CENTRAL_INGEST_PORT": str(broker.port),
           "CENTRAL_INGEST_PASSWORD": CENTRAL_PASS, "CENTRAL_INGEST_BATCH_WAIT_S": "0.2",
           "PATH": "/usr/bin:/bin"}
    cmd = [PY, "-m", "central_server.ingest.worker"]
    cwd = str(HERE.parents[1])
    proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, broker.port, "pw"))
    try:
        t = stream(site, 400, pause=0.002)
        for _ in range(3):
            time.sleep(0.4)
            proc.kill()
            proc.wait()
            proc = subprocess.Popen(cmd, env=env, cwd=cwd)
        t.join()
        assert_exactly_once(site, sessions)
    finally:
        link.stop()
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-x", "-q"]))


def test_worker_is_ready_only_once_its_subscriptions_are_granted(broker, central_db):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    # a refused subscription (e.g. a plugin's ACL answering 0x87) leaves the worker not ready
    idle = IngestWorker(IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS,
                                       _env_file=None), sessions, apply=None)
    granted, refused = ReasonCode(PacketTypes.SUBACK, "Granted QoS 1"), ReasonCode(PacketTypes.SUBACK, "Not authorized")
    idle._on_subscribe(None, None, 1, [granted, refused], None)
    assert not idle.wait_connected(0.1)
    idle._on_subscribe(None, None, 2, [granted, granted], None)
    assert idle.wait_connected(0.1)
    worker = start_worker(broker, sessions)
    edge = RawClient(broker.port, school, "pw")
    try:  # ready means subscribed: the very first event already has a subscriber (reason code 0, not 16)
        assert edge.publish(p.events_topic(school), p.new_event(school, 1, "attendance.proposed", payload(1),
                                                                key).to_bytes()) == 0
        wait_until(lambda: len(central_ids(sessions)) == 1, 10, msg="the first event stored")
    finally:
        edge.close()
        worker.stop()
