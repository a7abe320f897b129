"""The edge agent's metrics follow its MQTT link: a running EdgeService (demo school, real models) on a private
Mosquitto reports `edge_mqtt_connected 1`, then 0 once the broker is gone; its outbox gauges follow the school
database as events are recorded while the broker is down."""

from __future__ import annotations

import urllib.request

import pytest
from broker_proc import free_port
from conftest import wait_until
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.protocol import AttendancePayload, AttendanceStatus, EventKind, Session, Source, SourceKind, utcnow
from edge_agent.store import school_db
from edge_agent.sync.outbox import Outbox

pytestmark = [pytest.mark.mqtt]


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode("utf-8")
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.labels.get("school") == "THPT-DEMO" and "camera" not in s.labels}


def test_mqtt_state_and_outbox_follow_the_link(tmp_path, broker, model_store):
    from edge_agent.config import load_settings
    from edge_agent.demo.e2e import OBAMA, build
    from edge_agent.service import EdgeService

    demo = build(tmp_path / "school", store=model_store, broker=True)
    settings = load_settings(demo.config)
    broker.add_user(settings.school_code, "pw")
    port = free_port()
    settings = settings.model_copy(update={
        "broker": settings.broker.model_copy(update={"port": broker.port, "password": "pw"}),
        "metrics": settings.metrics.model_copy(update={"port": port, "host": "127.0.0.1"})})
    service = EdgeService(settings, with_kiosk=False, with_link=True)
    service.start()
    try:
        assert service._link.wait_connected(10)
        up = scrape(port)
        assert up["edge_mqtt_connected"] == 1 and up["edge_outbox_unsent_events"] == 0
        assert up["edge_outbox_oldest_unsent_age_seconds"] == 0
        broker.stop(kill=True)
        wait_until(lambda: scrape(port)["edge_mqtt_connected"] == 0, 30, msg="the link to notice the broker is gone")
        conn = school_db.connect(settings.paths.db_path)
        try:
            with school_db.transaction(conn):
                payload = AttendancePayload(
                    student_id=OBAMA, class_code="10A1", date=utcnow().date(), session=Session.MORNING, period=1,
                    subject="Toán", status=AttendanceStatus.PRESENT, source=Source(kind=SourceKind.CAMERA,
                    camera_id="a101-door"), observed_at=utcnow(), confidence=0.8, track_id="t-metrics")
                Outbox(conn, settings.school_code, service.key).enqueue(EventKind.ATTENDANCE_PROPOSED, payload)
        finally:
            school_db.close(conn)
        down = scrape(port)
        assert down["edge_mqtt_connected"] == 0 and down["edge_outbox_unsent_events"] == 1
        assert down["edge_outbox_oldest_unsent_age_seconds"] >= 0
    finally:
        service.shutdown()
