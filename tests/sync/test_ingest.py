"""Central ingest on SQLite and PostgreSQL: the migration, the idempotent store feeding the attendance
module, the reconciliation endpoint, and recovery of events a crashed broker lost."""

from __future__ import annotations

import json
import time

import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, central_ids, new_school, register, wait_until
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select
from sync_helpers import EdgeSite, RunningLink, link_settings, payload

from central_server.core.clock import local_today
from central_server.core.db import utcnow
from central_server.events import event_handler as resolve_apply_event
from central_server.ingest import routes
from central_server.ingest.service import Incoming, reconcile, set_school_key, store_batch
from central_server.ingest.tables import IngestEvent
from edge_agent import protocol as p
from edge_agent.sync.reconcile import reconcile as edge_reconcile


def test_migration_creates_the_ingest_tables(migrated):
    _, engine, _ = migrated
    insp = inspect(engine)
    assert {"ingest_events", "ingest_quarantine", "ingest_school_keys", "ingest_edge_status"} <= set(
        insp.get_table_names())
    if engine.dialect.name == "postgresql":  # partitioned by month: (school, seq) kept by ingest_event_seqs
        assert insp.get_pk_constraint("ingest_event_seqs")["constrained_columns"] == ["school", "seq"]
    else:
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("ingest_events")}
        assert ("school", "seq") in uniques


def test_stored_events_feed_attendance_once(migrated):
    from central_server.attendance.tables import AttendanceHistory
    from central_server.masterdata.tables import School, Student

    apply = resolve_apply_event()
    assert apply is not None, "central_server.attendance.service.apply_event is expected"
    _, _, sessions = migrated
    school, key = new_school()
    with sessions.begin() as s:
        set_school_key(s, school, key)
        sch = School(code=school, name="THPT Thử nghiệm")
        s.add(sch)
        s.flush()
        s.add(Student(personal_id="094207000001", full_name="Nguyễn Văn An", school_id=sch.id))
    today = local_today()
    good = p.new_event(school, 1, "attendance.proposed", payload(0, today).model_copy(
        update={"student_id": "094207000001"}), key)
    stranger = p.new_event(school, 2, "attendance.proposed", payload(5, today), key)  # not in master data
    items = [Incoming(p.events_topic(school), e.to_bytes(), utcnow()) for e in (good, stranger)]
    from central_server.ingest.service import ApplyFailed
    with pytest.raises(ApplyFailed), sessions.begin() as s:
        store_batch(s, items, {school: key}.get, apply)
    with sessions.begin() as s:  # the worker's retry: isolate each apply, record the failure
        out = store_batch(s, items, {school: key}.get, apply, isolate_apply=True)
    assert [o.status for o in out] == ["stored", "stored"]
    with sessions.begin() as s:  # redelivery of both: nothing applied twice
        out = store_batch(s, items, {school: key}.get, apply)
    assert [o.status for o in out] == ["duplicate", "duplicate"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AttendanceHistory)
                        .where(AttendanceHistory.event_id == str(good.event_id))) == 1
        assert s.get(IngestEvent, str(stranger.event_id)).apply_error.startswith("ApplyError")
        assert s.get(IngestEvent, str(good.event_id)).deliveries == 2


def test_reconcile_ranges_and_endpoint(migrated):
    _, _, sessions = migrated
    school, key = new_school()
    with sessions.begin() as s:
        set_school_key(s, school, key)
        items = [Incoming(p.events_topic(school),
                          p.new_event(school, seq, "attendance.proposed", payload(seq), key).to_bytes(), utcnow())
                 for seq in (1, 2, 3, 5, 8, 9)]
        store_batch(s, items, {school: key}.get)
    with sessions() as s:
        r = reconcile(s, school, 1, 10)
    assert r.held == [(1, 3), (5, 5), (8, 9)] and r.missing == [4, 6, 7, 10] and r.max_seq == 9

    app = FastAPI()
    app.include_router(routes.router)
    app.state.sessionmaker = sessions
    client = TestClient(app)
    body = json.dumps({"school": school, "from_seq": 1, "to_seq": 10}).encode()
    path = "/api/ingest/reconcile"
    ok = client.post(path, content=body, headers=p.request_headers(school, key, "POST", path, body))
    assert ok.status_code == 200 and ok.json()["missing"] == [4, 6, 7, 10]
    forged = client.post(path, content=body, headers=p.request_headers(school, b"x" * 32, "POST", path, body))
    assert forged.status_code == 401 and "Xác thực" in forged.json()["detail"]
    other, other_key = new_school()
    with sessions.begin() as s:
        set_school_key(s, other, other_key)
    spy = client.post(path, content=body, headers=p.request_headers(other, other_key, "POST", path, body))
    assert spy.status_code == 403
    bad = b'{"school": "%s", "from_seq": 5, "to_seq": 1}' % school.encode()
    assert client.post(path, content=bad, headers=p.request_headers(school, key, "POST", path, bad)).status_code == 422


@pytest.mark.mqtt
def test_reconcile_recovers_events_lost_in_a_broker_crash(broker, central_db, central_api, tmp_path):
    """kill -9 of the broker while the worker is down: the broker had PUBACKed events it never saved.
    Reconciliation finds the gaps, the edge re-sends, and central ends with every event exactly once."""
    from test_faults import assert_exactly_once, start_worker

    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = start_worker(broker, sessions)
    worker.stop()  # its persistent session now queues at the broker
    site = EdgeSite(tmp_path / "edge.sqlite3", school, key)
    link = RunningLink(link_settings(site, broker.port, "pw"))
    url = central_api(sessions)
    try:
        for i in range(40):
            site.record(i)
        wait_until(lambda: site.unsent() == 0, 20, msg="PUBACKs")
        broker.restart(kill=True)  # the queued events were only in the broker's memory
        worker = start_worker(broker, sessions)
        for i in range(40, 60):
            site.record(i)
        wait_until(lambda: site.unsent() == 0, 20, msg="PUBACKs after the crash")
        time.sleep(1.0)
        lost = len(site.event_ids()) - len(central_ids(sessions))
        assert lost > 0  # the crash really lost events that the edge had counted as delivered
        resent = edge_reconcile(site.outbox, url, school, key, grace_s=0)
        assert len(resent) == lost
        assert_exactly_once(site, sessions)
    finally:
        link.stop()
        worker.stop()


def test_worker_settings_are_typed(monkeypatch):
    from central_server.ingest.config import IngestSettings

    monkeypatch.setenv("CENTRAL_INGEST_PORT", "not-a-port")
    with pytest.raises(ValueError):
        IngestSettings(_env_file=None)
    assert IngestSettings(_env_file=None, port=1884, username=CENTRAL_USER,
                          password=CENTRAL_PASS).client_id == "central-ingest"


def test_pad_suspected_events_are_stored_and_checked(migrated):
    """A camera's `pad.suspected` event (a photo / screen refused and sent to the teacher) is verified and stored
    like every event, applied by every module without error (attendance ignores it), and a malformed one
    (a score below the threshold it claims to reach, or the wrong payload for its kind) is quarantined."""
    from central_server.ingest.tables import IngestQuarantine

    _, _, sessions = migrated
    school, key = new_school()
    with sessions.begin() as s:
        set_school_key(s, school, key)
    body = p.PadSuspectedPayload(student_id="094207000001", date=local_today(),
                                 source=p.Source(kind="camera", camera_id="cong-chinh"), observed_at=p.utcnow(),
                                 track_id="cong-chinh-1-7", pad_score=0.93, pad_threshold=0.62, pad_frames=3,
                                 confidence=0.71)
    good = p.new_event(school, 1, p.EventKind.PAD_SUSPECTED, body, key)
    forged = good.body()
    forged.update(seq=2, event_id=str(p.uuid7()), sig="")
    forged["payload"]["pad_score"] = 0.2
    forged["sig"] = p.sign_obj(forged, key)
    wrong_kind = good.body()
    wrong_kind.update(seq=3, event_id=str(p.uuid7()), kind="gate.arrival", sig="")
    wrong_kind["sig"] = p.sign_obj(wrong_kind, key)
    items = [Incoming(p.events_topic(school), data, utcnow())
             for data in (good.to_bytes(), p.canonical_json(forged), p.canonical_json(wrong_kind))]
    with sessions.begin() as s:
        out = store_batch(s, items, {school: key}.get, resolve_apply_event())
    assert [o.status for o in out] == ["stored", "quarantined", "quarantined"]
    assert out[1].reason == out[2].reason == "schema"
    with sessions() as s:
        row = s.get(IngestEvent, str(good.event_id))
        assert (row.kind, row.student_id, row.apply_error) == ("pad.suspected", "094207000001", None)
        stored = json.loads(row.body)["payload"]
        assert (stored["pad_score"], stored["pad_threshold"], stored["pad_frames"]) == (0.93, 0.62, 3)
        assert p.verify_obj(json.loads(row.body), key)
        assert s.scalar(select(func.count()).select_from(IngestQuarantine)
                        .where(IngestQuarantine.school == school)) == 2
