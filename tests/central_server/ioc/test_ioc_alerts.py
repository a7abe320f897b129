"""Alerts: rules as data, dedup, open -> acknowledged (named person, note) -> resolved, audit, school scope,
and the HMAC-signed webhook retried with back-off against a real local HTTP receiver."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from central_server.core.db import utcnow
from central_server.core.tables import AuditLog
from central_server.ingest.tables import EdgeStatus
from central_server.ioc.config import IocSettings
from central_server.ioc.tables import IocAlert, IocWebhookDelivery

ALWAYS = dict(school_weekdays=[0, 1, 2, 3, 4, 5, 6], school_hours_start="00:00", school_hours_end="23:59:59")


def _alerts(db, rule=None):
    db.expire_all()
    q = select(IocAlert).order_by(IocAlert.id)
    return list(db.scalars(q.where(IocAlert.rule_code == rule) if rule else q))


def _heartbeat(db, school, seen, age_s=None, state="online"):
    payload = {"schema_version": 1, "state": state, "school": school.code, "sent_at": seen.isoformat(),
               "outbox_backlog": 12, "outbox_oldest_age_s": age_s, "gallery_version": "g-7",
               "model_versions": {"sface": "2021dec"}, "cameras": [{"camera_id": "cam-1", "fps": 8.5}]}
    row = db.get(EdgeStatus, school.code) or EdgeStatus(school=school.code)
    row.state, row.last_seen_at, row.outbox_backlog, row.payload = state, seen, 12, json.dumps(payload)
    db.add(row)
    db.commit()


def _absences(apply, ev, school, student, today, sessions):
    day, done = today, 0
    while done < sessions:
        if day.weekday() < 5:
            for sess in ("morning", "afternoon"):
                if done < sessions:
                    apply(ev(school.code, student.personal_id, day, "K", session=sess))
                    done += 1
        day -= dt.timedelta(days=1)


def test_edge_alerts_dedup_and_resolve_themselves(world, run_tick, db):
    a = world["a"]
    ioc = IocSettings(_env_file=None, run_job=False, **ALWAYS)
    _heartbeat(db, a, utcnow() - dt.timedelta(minutes=30), age_s=7200)
    run_tick(ioc=ioc)
    run_tick(ioc=ioc)  # the same conditions again: no second alert
    offline, backlog = _alerts(db, "edge_offline"), _alerts(db, "outbox_backlog")
    assert len(offline) == 1 and len(backlog) == 1
    assert offline[0].state == "open" and offline[0].school_id == a.id and offline[0].value >= 30
    assert "120 phút" in backlog[0].message
    _heartbeat(db, a, utcnow(), age_s=5)  # back online, backlog drained
    run_tick(ioc=ioc)
    offline, backlog = _alerts(db, "edge_offline"), _alerts(db, "outbox_backlog")
    assert [x.state for x in offline + backlog] == ["resolved", "resolved"]
    assert offline[0].open_key is None and offline[0].resolved_by == "ioc-job"
    actions = [r.action for r in db.scalars(select(AuditLog).where(AuditLog.target == f"alert:{offline[0].id}"))]
    assert actions == ["ioc.alert.open", "ioc.alert.resolve"]
    _heartbeat(db, a, utcnow() - dt.timedelta(minutes=30))
    run_tick(ioc=ioc)  # offline again later: a new alert
    assert [x.state for x in _alerts(db, "edge_offline")] == ["resolved", "open"]


def test_edge_offline_only_in_school_hours(world, run_tick, db):
    ioc = IocSettings(_env_file=None, run_job=False, school_weekdays=[], school_hours_start="06:30")
    _heartbeat(db, world["a"], utcnow() - dt.timedelta(hours=3))
    run_tick(ioc=ioc)
    assert _alerts(db, "edge_offline") == []


def test_student_level_alerts_once_ack_and_resolve_by_people(world, apply, ev, run_tick, db, client_for):
    a, s, users = world["a"], world["students"], world["users"]
    _absences(apply, ev, a, s[0], world["today"], 30)
    run_tick(full=False)  # an incremental run judges the students it touched
    alert = _alerts(db, "student_absent_30")[0]
    assert alert.school_id == a.id and alert.subject == f"student:{s[0].id}" and alert.state == "open"
    assert _alerts(db, "student_absent_40") == []
    admin_b, teacher, admin_a = (client_for(users[r]) for r in ("school_admin_b", "teacher", "school_admin"))
    url = f"/api/ioc/alerts/{alert.id}"
    assert admin_b.post(f"{url}/ack", json={"note": "x"}).status_code == 403
    assert teacher.post(f"{url}/ack", json={"note": "x"}).status_code == 403
    assert admin_a.post(f"{url}/ack", json={"note": ""}).status_code == 422
    assert admin_a.post(f"{url}/ack", json={"note": "   "}).status_code == 422
    assert _alerts(db, "student_absent_30")[0].state == "open"  # nothing half-written
    r = admin_a.post(f"{url}/ack", json={"note": "Đã gọi phụ huynh"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged" and r.json()["ack_by"] == "Lê Hiệu Phó (admin_a)"
    assert admin_a.post(f"{url}/ack", json={"note": "lần hai"}).status_code == 409
    assert admin_b.get("/api/ioc/alerts").json() == []
    assert [x["id"] for x in admin_a.get("/api/ioc/alerts?state=acknowledged").json()] == [alert.id]
    assert admin_a.post(f"{url}/resolve", json={"note": "HS đi học lại"}).json()["state"] == "resolved"
    run_tick()  # the student is still over 30: a one-off condition does not open again
    assert len(_alerts(db, "student_absent_30")) == 1
    audit = [(r.action, r.actor_name) for r in db.scalars(select(AuditLog).where(
        AuditLog.target == f"alert:{alert.id}").order_by(AuditLog.id))]
    assert audit == [("ioc.alert.open", "ioc-job"), ("ioc.alert.ack", "admin_a"), ("ioc.alert.resolve", "admin_a")]


def test_rules_are_data_edited_by_the_province_admin(world, apply, ev, run_tick, db, client_for):
    a, s, users = world["a"], world["students"], world["users"]
    _absences(apply, ev, a, s[1], world["today"], 22)
    run_tick()
    assert _alerts(db, "student_absent_30") == []
    for role in ("province_staff", "school_admin", "teacher"):
        assert client_for(users[role]).put("/api/ioc/rules/student_absent_30",
                                           json={"threshold": 20}).status_code == 403
    admin = client_for(users["province_admin"])
    assert admin.put("/api/ioc/rules/student_absent_30", json={"threshold": 0}).status_code == 422
    assert admin.put("/api/ioc/rules/no_such_rule", json={"threshold": 5}).status_code == 404
    assert {r["code"]: r["threshold"] for r in admin.get("/api/ioc/rules").json()}["student_absent_30"] == 30
    r = admin.put("/api/ioc/rules/student_absent_30", json={"threshold": 20, "enabled": True})
    assert r.status_code == 200 and r.json()["updated_by"] == "so_admin"
    run_tick()
    assert [x.subject for x in _alerts(db, "student_absent_30")] == [f"student:{s[1].id}"]
    row = db.scalars(select(AuditLog).where(AuditLog.action == "ioc.rule.update")).one()
    assert row.detail == {"before": {"threshold": 30.0, "enabled": True}, "after": {"threshold": 20.0, "enabled": True}}
    admin.put("/api/ioc/rules/dropout_rising", json={"threshold": 3, "enabled": False})
    assert {r["code"]: r["enabled"] for r in admin.get("/api/ioc/rules").json()}["dropout_rising"] is False


class _Receiver(BaseHTTPRequestHandler):
    calls: list = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        status = 500 if len(type(self).calls) <= type(self).fail_first else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def receiver():
    _Receiver.calls, _Receiver.fail_first = [], 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver
    server.shutdown()
    server.server_close()


def test_webhook_signed_and_retried_with_backoff(world, run_tick, db, receiver):
    url, rec = receiver
    ioc = IocSettings(_env_file=None, run_job=False, webhook_url=url, webhook_secret="bí-mật-webhook",
                      webhook_backoff_s=30, **ALWAYS)
    _heartbeat(db, world["a"], utcnow() - dt.timedelta(minutes=30))
    t0 = utcnow()
    run_tick(ioc=ioc, now=t0)  # opens the alert; the first POST gets HTTP 500
    assert len(rec.calls) == 1
    row = db.scalars(select(IocWebhookDelivery)).one()
    assert row.delivered_at is None and row.attempts == 1 and row.last_error == "HTTP 500"
    assert row.next_attempt_at == t0 + dt.timedelta(seconds=30)
    run_tick(ioc=ioc, now=t0 + dt.timedelta(seconds=10))  # not due yet
    assert len(rec.calls) == 1
    run_tick(ioc=ioc, now=t0 + dt.timedelta(seconds=31))
    assert len(rec.calls) == 2
    db.expire_all()
    assert db.get(IocWebhookDelivery, row.id).delivered_at is not None
    headers, body = rec.calls[-1]
    expected = hmac.new("bí-mật-webhook".encode(), headers["X-IOC-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-IOC-Signature"] == f"sha256={expected}"
    forged = hmac.new(b"other", headers["X-IOC-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-IOC-Signature"] != f"sha256={forged}"
    sent = json.loads(body)
    assert sent["event"] == "opened" and sent["alert"]["rule"] == "edge_offline"
    assert sent["alert"]["school_id"] == world["a"].id


def test_webhook_gives_up_after_max_attempts(world, run_tick, db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    ioc = IocSettings(_env_file=None, run_job=False, webhook_url=f"http://127.0.0.1:{port}/", webhook_max_attempts=2,
                      webhook_backoff_s=1, **ALWAYS)
    _heartbeat(db, world["a"], utcnow() - dt.timedelta(minutes=30))
    t0 = utcnow()
    run_tick(ioc=ioc, now=t0)
    run_tick(ioc=ioc, now=t0 + dt.timedelta(seconds=5))
    row = db.scalars(select(IocWebhookDelivery)).one()
    db.refresh(row)
    assert row.attempts == 2 and row.failed_at is not None and row.delivered_at is None
    assert "Connect" in row.last_error
