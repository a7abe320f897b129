"""The wire contract: topics, UUIDv7, canonical signing, schema checks, control messages, signed HTTP."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError
from sync_helpers import payload

from edge_agent import protocol as p

KEY = bytes(range(32))


def test_topics_are_versioned_and_school_scoped():
    assert p.events_topic("THPT-LH") == "edu/v1/THPT-LH/events"
    assert p.parse_topic("edu/v1/THPT-LH/status") == ("THPT-LH", "status")
    for bad in ("edu/v1/+/events", "edu/v1/#", "edu/v2/A/events", "edu/v1/A/other", "edu/v1/a b/events"):
        with pytest.raises(p.ProtocolError):
            p.parse_topic(bad)
    with pytest.raises(p.ProtocolError):
        p.events_topic("A/B")


def test_uuid7_is_version_7_unique_and_time_ordered():
    ids = [p.uuid7() for _ in range(5000)]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    t = p.uuid7_time(ids[0])
    assert abs((t - p.utcnow()).total_seconds()) < 5
    assert p.uuid7(now_ms=1_000) < p.uuid7()  # a clock going back still yields increasing ids


def test_event_round_trip_and_tamper_detection():
    ev = p.new_event("THPT-LH", 7, "attendance.proposed", payload(1), KEY)
    got = p.decode_event(p.events_topic("THPT-LH"), ev.to_bytes(), {"THPT-LH": KEY}.get)
    assert got == ev and got.payload.status is p.AttendanceStatus.PRESENT
    # key order / whitespace of the received JSON does not matter; content does
    pretty = json.dumps(json.loads(ev.to_bytes()), indent=2).encode()
    assert p.decode_event(p.events_topic("THPT-LH"), pretty, {"THPT-LH": KEY}.get) == ev
    obj = json.loads(ev.to_bytes())
    obj["payload"]["status"] = "K"
    with pytest.raises(p.ProtocolError) as err:
        p.decode_event(p.events_topic("THPT-LH"), json.dumps(obj).encode(), {"THPT-LH": KEY}.get)
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize("mutate, reason", [
    (lambda o: o.update(schema_version=2), "schema_version"),
    (lambda o: o.update(school="OTHER"), "topic_mismatch"),
    (lambda o: o.update(event_id="6f1e0c9a-1b2c-4d3e-8f40-123456789abc"), "schema"),  # UUIDv4
    (lambda o: o.update(seq=0), "schema"),
    (lambda o: o["payload"].update(student_id="12345"), "schema"),
    (lambda o: o["payload"].update(observed_at="2025-09-08T07:00:00"), "schema"),  # naive time
    (lambda o: o.update(kind="gate.arrival"), "schema"),  # kind does not match the payload
])
def test_schema_checks(mutate, reason):
    obj = p.new_event("THPT-LH", 1, "attendance.proposed", payload(1), KEY).body()
    mutate(obj)
    obj["sig"] = p.sign_obj(obj, KEY)
    with pytest.raises(p.ProtocolError) as err:
        p.decode_event(p.events_topic("THPT-LH"), json.dumps(obj).encode(), {"THPT-LH": KEY, "OTHER": KEY}.get)
    assert err.value.reason == reason


def test_unknown_school_and_bad_json():
    ev = p.new_event("THPT-LH", 1, "attendance.proposed", payload(1), KEY)
    with pytest.raises(p.ProtocolError, match="unknown_school"):
        p.decode_event(p.events_topic("THPT-LH"), ev.to_bytes(), {}.get)
    for data, reason in ((b"\xff", "not_json"), (b"[" * 30_000, "not_json"), (b"1" * 70_000, "too_large"),
                         (b'{"schema_version": 1, "x": NaN}', "not_json"), (b"[]", "schema")):
        with pytest.raises(p.ProtocolError) as err:
            p.decode_event(p.events_topic("THPT-LH"), data, {"THPT-LH": KEY}.get)
        assert err.value.reason == reason


def test_attendance_vocabulary_covers_corrections_and_finalisation():
    corr = p.AttendancePayload(
        student_id="094207000001", class_code="10A1", date=dt.date(2025, 9, 8), period=2,
        status=p.AttendanceStatus.EXCUSED, previous_status=p.AttendanceStatus.ABSENT_PROPOSED,
        reason="Phụ huynh xin phép", source=p.Source(kind="teacher", teacher_id="GV042"), observed_at=p.utcnow())
    ev = p.new_event("THPT-LH", 2, p.EventKind.ATTENDANCE_CORRECTED, corr, KEY)
    assert json.loads(ev.to_bytes())["payload"]["status"] == "P"
    with pytest.raises(ValidationError):
        p.Source(kind="teacher")  # a teacher source names the teacher
    assert {k.value for k in p.EventKind} >= {"attendance.proposed", "attendance.corrected",
                                              "attendance.finalised", "gate.arrival"}


def test_control_messages_signed_for_one_school():
    msg = p.new_control("THPT-LH", "erasure.request", KEY,
                        erasure=p.ErasureRequest(student_id="094207000001", request_id="r1"))
    assert p.decode_control(p.control_topic("THPT-LH"), msg.to_bytes(), "THPT-LH", KEY) == msg
    with pytest.raises(p.ProtocolError, match="bad_signature"):
        p.decode_control(p.control_topic("THPT-LH"), msg.to_bytes(), "THPT-LH", b"x" * 32)
    with pytest.raises(p.ProtocolError, match="bad_topic"):
        p.decode_control(p.control_topic("OTHER"), msg.to_bytes(), "THPT-LH", KEY)
    with pytest.raises(ValidationError):
        p.Control(message_id=p.uuid7(), school="A", kind="gallery.available", issued_at=p.utcnow())


def test_signed_http_requests():
    h = p.request_headers("THPT-LH", KEY, "POST", "/api/ingest/reconcile", b"{}")
    assert p.verify_request(h, "POST", "/api/ingest/reconcile", b"{}", {"THPT-LH": KEY}.get) == "THPT-LH"
    for args in (("POST", "/api/ingest/reconcile", b"{1}"), ("GET", "/api/ingest/reconcile", b"{}")):
        with pytest.raises(p.ProtocolError):
            p.verify_request(h, *args, {"THPT-LH": KEY}.get)
    old = p.request_headers("THPT-LH", KEY, "GET", "/x", now=1_000_000)
    with pytest.raises(p.ProtocolError, match="too far"):
        p.verify_request(old, "GET", "/x", b"", {"THPT-LH": KEY}.get)


def test_status_messages():
    hb = p.Heartbeat(school="A", sent_at=p.utcnow(), outbox_backlog=3, cameras=[p.CameraStatus(camera_id="c", fps=9.5)])
    assert p.parse_status(hb.model_dump_json().encode()) == hb
    assert p.parse_status(p.Offline(school="A").model_dump_json().encode()).state == "offline"


def test_camera_face_size_counts_go_together_and_add_up():
    """The placement figures of a camera (latest face tracks, those never wider than 60 px): both or neither, and
    never more small tracks than tracks; an agent that does not count them still sends a valid heartbeat."""
    ok = p.CameraStatus(camera_id="c", fps=9.5, face_tracks=167, small_face_tracks=162)
    hb = p.Heartbeat(school="A", sent_at=p.utcnow(), outbox_backlog=0,
                     cameras=[ok, p.CameraStatus(camera_id="d", fps=1)])
    back = p.parse_status(hb.model_dump_json().encode())
    assert (back.cameras[0].face_tracks, back.cameras[0].small_face_tracks) == (167, 162)
    assert back.cameras[1].face_tracks is None and back.cameras[1].small_face_tracks is None
    for bad in ({"face_tracks": 10, "small_face_tracks": 11}, {"face_tracks": 10}, {"small_face_tracks": 0},
                {"face_tracks": -1, "small_face_tracks": 0}):
        with pytest.raises(ValidationError):
            p.CameraStatus(camera_id="c", fps=1.0, **bad)
    raw = json.loads(hb.model_dump_json())
    raw["cameras"][0]["small_face_tracks"] = 500
    with pytest.raises(p.ProtocolError):
        p.parse_status(json.dumps(raw).encode())
