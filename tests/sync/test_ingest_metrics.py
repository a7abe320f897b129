"""The ingest worker's own metrics port (`CENTRAL_INGEST_METRICS_PORT`), scraped from the real worker process
(`python -m central_server.ingest.worker`) while a school's real MQTT link delivers events through Mosquitto:
stored, duplicate and quarantined counts per school move exactly as the central database says."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from broker_proc import free_port
from conftest import CENTRAL_PASS, PY, new_school, register, wait_until
from mqtt_raw import RawClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sync_helpers import EdgeSite, RunningLink, link_settings

from central_server.ingest.tables import IngestEvent, IngestQuarantine
from edge_agent.protocol import events_topic

pytestmark = [pytest.mark.mqtt]
ROOT = Path(__file__).resolve().parents[2]


def scrape(port: int) -> dict | None:
    """{(sample name, frozenset(labels)): value}, or None while the worker's endpoint is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError):
        return None
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def get(m: dict, name: str, **labels) -> float:
    return sum(v for (n, lab), v in m.items() if n == name and set(labels.items()) <= set(lab))


def test_worker_counts_what_it_commits(broker, migrated, tmp_path):
    url, _, sessions = migrated
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    port = free_port()
    env = {"CENTRAL_INGEST_DATABASE_URL": url, "CENTRAL_INGEST_PORT": str(broker.port),
           "CENTRAL_INGEST_PASSWORD": CENTRAL_PASS, "CENTRAL_INGEST_METRICS_PORT": str(port),
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([PY, "-m", "central_server.ingest.worker"], env=env, cwd=str(ROOT))
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = None
    try:
        ready = wait_until(lambda: (m := scrape(port)) is not None and get(m, "central_ingest_mqtt_connected") == 1
                           and m, 30, msg="the worker's metrics endpoint, connected")
        assert get(ready, "central_ingest_events_total", school=school) == 0
        for i in range(5):
            site.record(i)
        link = RunningLink(link_settings(site, broker.port, "pw"))
        wait_until(lambda: site.unsent() == 0, 30, msg="the edge outbox to drain")
        m = wait_until(lambda: (m := scrape(port)) and get(m, "central_ingest_events_total", school=school,
                                                           outcome="stored") == 5 and m, 30, msg="5 stored")
        assert get(m, "central_ingest_batch_duration_seconds_count") >= 1
        # the same signed event again (a transport duplicate), and a tampered one (quarantined)
        body = bytes(site.conn.execute("SELECT body FROM outbox WHERE seq = 1").fetchone()[0])
        forged = json.loads(body)
        forged["payload"]["period"] = 5 if forged["payload"]["period"] != 5 else 4
        raw = RawClient(broker.port, school, "pw")
        try:
            assert raw.publish(events_topic(school), body) < 0x80
            assert raw.publish(events_topic(school), json.dumps(forged).encode()) < 0x80
        finally:
            raw.close()
        m = wait_until(lambda: (m := scrape(port)) and get(m, "central_ingest_events_total", school=school,
                                                           outcome="quarantined") == 1 and m, 30, msg="quarantine")
        assert get(m, "central_ingest_events_total", school=school, outcome="duplicate") == 1
        assert get(m, "central_ingest_events_total", school=school, outcome="stored") == 5
        with sessions() as s:
            reason = s.scalar(select(IngestQuarantine.reason).where(IngestQuarantine.school == school))
            deliveries = s.scalar(select(func.sum(IngestEvent.deliveries)).where(IngestEvent.school == school))
        assert get(m, "central_ingest_quarantined_total", school=school, reason=reason) == 1
        assert deliveries == 6, "the database agrees: 5 events, one of them delivered twice"
        assert get(m, "central_ingest_db_errors_total") == 0
    finally:
        if link is not None:
            link.stop()
        proc.terminate()
        proc.wait(timeout=30)
