"""Attendance rules on a real SQLite school database with the real outbox and signed events."""

from __future__ import annotations

import json

import numpy as np
import pytest
from school_testkit import KEY, RULES, SCHOOL, STUDENTS, TZ, at, make_school

from edge_agent.attendance.lessons import AttendanceError
from edge_agent.attendance.proposals import AttendanceEngine, Recognition
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.protocol import Event, verify_obj
from edge_agent.store import school_db
from edge_agent.sync.outbox import Limits, OutboxFull

BICH, CUONG, DUYEN, PHIA = list(STUDENTS)


@pytest.fixture()
def conn(tmp_path):
    c = school_db.connect(make_school(tmp_path))
    yield c
    school_db.close(c)


@pytest.fixture()
def engine(conn):
    return AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ, device_id="edge-test")


@pytest.fixture()
def desk(conn):
    return TeacherDesk(conn, RULES, SCHOOL, KEY, TZ, device_id="kiosk-test")


def seen(student, hh, mm, room="A101", camera="cam-a101", decision="accept", **kw):
    return Recognition(camera=camera, role="classroom", room=room, at=at(hh, mm), decision=decision,
                       student_id=student, score=0.71, track_id=kw.pop("track_id", f"t{hh}{mm}"), **kw)


def events(conn, kind=None):
    rows = conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
    out = [json.loads(r[0]) for r in rows]
    for obj in out:
        assert verify_obj(obj, KEY), "every outbox event is signed with the school key"
        Event.model_validate(obj)
    return [e for e in out if kind is None or e["kind"] == kind]


def marks(conn, class_id="10A1", period=1):
    rows = conn.execute("SELECT m.* FROM marks m JOIN lessons l ON l.id = m.lesson_id WHERE l.class_id = ? "
                        "AND l.period = ? AND l.session = 'morning'", (class_id, period)).fetchall()
    return {r["student_id"]: dict(r) for r in rows}


def test_seen_in_window_is_proposed_present_and_late_after_grace(conn, engine):
    assert engine.record(seen(BICH, 6, 55)) == "proposed_present"      # window opens 10 min before 07:00
    assert engine.record(seen(CUONG, 7, 5)) == "proposed_present"      # at the end of the 5-minute grace
    assert engine.record(seen(DUYEN, 7, 9)) == "proposed_late"         # after the grace, inside the window
    assert engine.record(seen(BICH, 7, 10, track_id="again")) == "already_proposed"
    m = marks(conn)
    assert (m[BICH]["proposal"], m[CUONG]["proposal"], m[DUYEN]["proposal"]) == ("present", "present", "late")
    assert all(v["final"] is None and v["mark"] is None for v in m.values()), "a proposal is never final"
    ev = events(conn, "attendance.proposed")
    assert [(e["payload"]["student_id"], e["payload"]["status"]) for e in ev] == [
        (BICH, "present"), (CUONG, "present"), (DUYEN, "late")]
    assert ev[0]["payload"]["source"] == {"kind": "camera", "camera_id": "cam-a101", "teacher_id": None,
                                          "device_id": None}
    assert ev[0]["payload"]["class_code"] == "10A1" and ev[0]["payload"]["period"] == 1
    assert len({e["event_id"] for e in ev}) == 3


def test_outside_the_window_nothing_is_proposed(conn, engine):
    assert engine.record(seen(BICH, 6, 45)) == "no_lesson"             # before the window opens
    assert engine.record(seen(BICH, 7, 20)) == "outside_window"        # lesson under way, window closed
    assert marks(conn)[BICH]["proposal"] is None
    assert events(conn) == []
    kinds = [r[0] for r in conn.execute("SELECT kind FROM sightings ORDER BY id")]
    assert kinds == ["outside_window", "outside_window"]


def test_student_of_another_class_is_only_seen_in_room(conn, engine):
    assert engine.record(seen(PHIA, 7, 1)) == "seen_in_room"           # 10A2 student in 10A1's room
    assert PHIA not in marks(conn, "10A1")
    assert marks(conn, "10A2") == {}, "nothing is marked in the student's own class either"
    row = conn.execute("SELECT * FROM sightings WHERE student_id = ?", (PHIA,)).fetchone()
    assert (row["kind"], row["room"], row["class_id"]) == ("seen_in_room", "A101", "10A2")
    assert events(conn) == []


def test_unseen_students_are_proposed_absent_never_finalised_without_teacher(conn, engine, desk):
    engine.record(seen(BICH, 7, 0))
    report = engine.tick(at(7, 10))                                    # window still open
    assert report.proposed_absent == 0 and report.opened                # lessons exist from the window start
    report = engine.tick(at(7, 16))                                     # 07:15 closes the window
    assert report.proposed_absent == 3                                  # Cường, Duyên (10A1) + Phia (10A2)
    m = marks(conn)
    assert (m[CUONG]["proposal"], m[DUYEN]["proposal"]) == ("absent", "absent")
    assert all(v["final"] is None for v in m.values())
    absent = [e for e in events(conn, "attendance.proposed") if e["payload"]["status"] == "absent_proposed"]
    assert {e["payload"]["student_id"] for e in absent} == {CUONG, DUYEN, PHIA}
    assert all(e["payload"]["source"]["kind"] == "system" for e in absent)
    assert engine.tick(at(7, 30)).proposed_absent == 0, "closing a window twice proposes nothing new"
    assert events(conn, "attendance.finalised") == []

    lesson_id = m[BICH]["lesson_id"]
    with pytest.raises(AttendanceError, match="P \\(có phép\\) hoặc K"):
        desk.finalise(lesson_id, "GV001", now=at(7, 40))
    assert marks(conn)[CUONG]["final"] is None and events(conn, "attendance.finalised") == []

    assert desk.correct(lesson_id, CUONG, "P", "GV001", note="Phụ huynh xin phép", now=at(7, 41))
    assert desk.correct(lesson_id, DUYEN, "late", "GV001", now=at(7, 42))  # came in late, camera missed her
    assert not desk.correct(lesson_id, DUYEN, "late", "GV001", now=at(7, 42)), "same mark twice: no new event"
    corr = events(conn, "attendance.corrected")
    assert [(e["payload"]["student_id"], e["payload"]["status"], e["payload"]["previous_status"])
            for e in corr] == [(CUONG, "P", "absent_proposed"), (DUYEN, "late", "absent_proposed")]
    assert corr[0]["payload"]["reason"] == "Phụ huynh xin phép"
    assert corr[0]["payload"]["source"]["teacher_id"] == "GV001"

    assert desk.finalise(lesson_id, "GV001", now=at(7, 43)) == 3
    final = {k: v["final"] for k, v in marks(conn).items()}
    assert final == {BICH: "present", CUONG: "P", DUYEN: "late"}
    fin = events(conn, "attendance.finalised")
    assert {(e["payload"]["student_id"], e["payload"]["status"]) for e in fin} == {
        (BICH, "present"), (CUONG, "P"), (DUYEN, "late")}
    with pytest.raises(AttendanceError, match="đã được chốt"):
        desk.correct(lesson_id, BICH, "K", "GV001")
    assert engine.record(seen(CUONG, 7, 14, track_id="late-cam")) == "finalised", "a finalised period stays as is"
    assert desk.sync_state(lesson_id) == "waiting"
    seqs = [r[0] for r in conn.execute("SELECT o.seq FROM outbox o JOIN lesson_events e USING (event_id) "
                                       "WHERE e.lesson_id = ?", (lesson_id,))]
    from edge_agent.sync.outbox import Outbox
    Outbox(conn).mark_sent(seqs)
    assert desk.sync_state(lesson_id) == "synced"


def test_teacher_decision_is_not_overwritten_by_the_camera(conn, engine, desk):
    engine.tick(at(6, 55))
    lesson_id = conn.execute("SELECT id FROM lessons WHERE class_id = '10A1' AND period = 1").fetchone()[0]
    desk.correct(lesson_id, CUONG, "K", "GV001", now=at(6, 56))
    assert engine.record(seen(CUONG, 7, 2)) == "teacher_decided"
    assert marks(conn)[CUONG]["mark"] == "K" and marks(conn)[CUONG]["proposal"] is None


def test_change_and_event_are_one_transaction(conn, engine):
    engine.record(seen(BICH, 7, 0))
    engine.events.outbox.limits = Limits(hard_rows=1)                   # the outbox is "full"
    with pytest.raises(OutboxFull):
        engine.record(seen(CUONG, 7, 1))
    assert marks(conn)[CUONG]["proposal"] is None, "no proposal without its event"
    assert len(events(conn)) == 1
    assert conn.execute("SELECT count(*) FROM sightings WHERE student_id = ?", (CUONG,)).fetchone()[0] == 0


def test_unfinalised_period_is_flagged(conn, engine, desk):
    engine.tick(at(7, 16))
    assert engine.tick(at(7, 49)).flagged == []                         # ends 07:45, flagged after 5 minutes
    flagged = engine.tick(at(7, 51)).flagged
    marks_ = ",".join("?" * len(flagged))
    rows = conn.execute(f"SELECT class_id, period FROM lessons WHERE id IN ({marks_})", flagged).fetchall()
    assert sorted(tuple(r) for r in rows) == [("10A1", 1), ("10A2", 1)]
    assert desk.lesson(flagged[0]).flagged
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'lesson.flagged_unfinalised'").fetchone()[0] == 2


def test_review_queue_keeps_a_small_crop_and_purges_it(conn, engine, desk):
    crop = np.random.default_rng(0).integers(0, 255, (300, 240, 3), dtype=np.uint8)
    assert engine.record(seen(DUYEN, 7, 3, decision="review", crop=crop, track_id="r1")) == "review"
    assert engine.record(seen(DUYEN, 7, 3, decision="review", crop=crop, track_id="r1")) == "review_duplicate"
    assert engine.record(seen(None, 7, 4, decision="unknown", crop=crop, track_id="u1")) == "review"
    items = desk.reviews()
    assert [(i.decision, i.candidate_id) for i in items] == [("review", DUYEN), ("unknown", None)]
    import cv2
    jpeg = desk.review_crop(items[0].id, "GV001")
    small = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert max(small.shape[:2]) == RULES.review_crop_px
    assert events(conn) == [], "review items are not attendance and never leave the school"

    assert desk.resolve_review(items[0].id, "GV001", DUYEN, now=at(7, 20)) == "confirmed"
    assert marks(conn)[DUYEN]["mark"] == "present"
    ev = events(conn, "attendance.corrected")
    assert [(e["payload"]["student_id"], e["payload"]["status"]) for e in ev] == [(DUYEN, "present")]
    assert desk.resolve_review(items[1].id, "GV001", None, now=at(7, 21)) == "rejected"
    assert desk.review_crop(items[1].id, "GV001") is None, "a stranger's crop is deleted at once"
    with pytest.raises(AttendanceError):
        desk.resolve_review(items[1].id, "GV001", None)

    assert engine.tick(at(7, 30, day=at(0, 0).date().replace(day=14))).crops_purged == 0   # 6 days later
    assert engine.tick(at(7, 30, day=at(0, 0).date().replace(day=16))).crops_purged == 1   # 8 days later
    assert desk.review_crop(items[0].id, "GV001") is None


def test_gate_records_arrival_and_departure(conn, engine):
    def gate(student, hh, mm, direction="both"):
        return Recognition(camera="gate-1", role="gate", room=None, at=at(hh, mm), decision="accept",
                           student_id=student, score=0.8, direction=direction)
    assert engine.record(gate(BICH, 6, 40)) == "gate_arrival"
    assert engine.record(gate(BICH, 6, 41, "in")) == "gate_seen"
    assert engine.record(gate(BICH, 11, 25)) == "gate_departure"
    assert engine.record(gate(BICH, 11, 27)) == "gate_seen"
    row = conn.execute("SELECT * FROM gate_log WHERE student_id = ?", (BICH,)).fetchone()
    assert row["arrival_at"].startswith("2025-09-08T06:40") and row["departure_at"].startswith("2025-09-08T11:25")
    ev = events(conn, "gate.arrival")
    assert [e["payload"]["direction"] for e in ev] == ["in", "out"]
    assert marks(conn) == {}, "the gate does not mark periods"


def test_no_lessons_on_a_holiday(conn, engine, tmp_path):
    from edge_agent.attendance.timetable import import_calendar
    cal = tmp_path / "lich.csv"
    cal.write_text("Loại,Tên,Từ ngày,Đến ngày\nHọc kỳ,Học kỳ I,05/09/2025,17/01/2026\n"
                   "Nghỉ,Nghỉ bù,08/09/2025,08/09/2025\n", encoding="utf-8")
    import_calendar(conn, cal)
    assert engine.record(seen(BICH, 7, 0)) == "no_lesson"
    assert engine.tick(at(7, 30)).opened == []
    assert engine.tick(at(7, 30, day=at(0, 0).date().replace(day=15))).opened  # next Monday is a school day


def test_unknown_or_inactive_student_is_not_marked(conn, engine):
    assert engine.record(seen("999999999999", 7, 0)) == "unknown_student"
    conn.execute("UPDATE students SET status = 'transferred' WHERE id = ?", (CUONG,))
    assert engine.record(seen(CUONG, 7, 0)) == "unknown_student"
    assert events(conn) == []
