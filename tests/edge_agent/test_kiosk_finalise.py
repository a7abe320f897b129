"""Finalising with a confirmation and summary, reopening within the window (audited, re-sent as events), the best
face crop of each sighting (kept for the day), and review items with a reason, suspected attacks first. Two
teachers, two classes: GV001 teaches 10A1, GV003 10A2."""

from __future__ import annotations

import re
from datetime import timedelta

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from school_testkit import KEY, RULES, SCHOOL, STUDENTS, TEACHER, TEACHER2, TZ, at, make_school

from edge_agent.attendance.proposals import AttendanceEngine, Recognition
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.config import AttendanceRules, KioskConfig
from edge_agent.kiosk.app import KioskContext, create_kiosk_app
from edge_agent.store import school_db

BICH, CUONG, DUYEN, PHIA = list(STUDENTS)
SUSPECT = "nghi ngờ ảnh/màn hình"


def face(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (200, 160, 3), dtype=np.uint8)


@pytest.fixture()
def school(tmp_path):
    return make_school(tmp_path)


class Clock:
    def __init__(self, moment):
        self.now = moment

    def __call__(self):
        return self.now


def client_for(db, teacher, clock, peer, rules=RULES):
    client = TestClient(create_kiosk_app(KioskContext(db, SCHOOL, KEY, rules, KioskConfig(), TZ, clock=clock)),
                        client=(peer, 1))
    r = client.post("/dang-nhap", data={"teacher_id": teacher[0], "pin": teacher[2]})
    assert r.status_code == 200, r.text[-400:]
    return client, re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


def outbox(db, kind):
    conn = school_db.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM outbox WHERE kind = ?", (kind,)).fetchone()[0]
    finally:
        school_db.close(conn)


def lesson_ids(db):
    conn = school_db.connect(db)
    AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ).tick(at(7, 20))
    ids = dict(conn.execute("SELECT class_id, id FROM lessons WHERE period = 1 AND session = 'morning'").fetchall())
    school_db.close(conn)
    return ids


@pytest.mark.parametrize(("teacher", "other", "cls"), [(TEACHER, TEACHER2, "10A1"), (TEACHER2, TEACHER, "10A2")])
def test_finalise_asks_for_confirmation_and_the_same_teacher_may_reopen(school, teacher, other, cls):
    conn = school_db.connect(school)
    AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ).record(
        Recognition("cam", "classroom", "A101" if cls == "10A1" else "A102", at(7, 1), "accept",
                    BICH if cls == "10A1" else PHIA, 0.8, "t1"))
    school_db.close(conn)
    lesson = lesson_ids(school)[cls]
    clock = Clock(at(7, 40))
    client, csrf = client_for(school, teacher, clock, "10.0.0.1")
    absent = [s for s, (_n, c) in STUDENTS.items() if c == cls and s not in (BICH, PHIA)]
    for i, student in enumerate(absent):
        client.post(f"/tiet/{lesson}/sua", data={"student_id": student, "mark": "PK"[i % 2], "csrf": csrf})
    r = client.post(f"/tiet/{lesson}/chot", data={"csrf": csrf})
    expected = {"10A1": "1 có mặt, 1 vắng có phép, 1 vắng không phép", "10A2": "1 có mặt"}[cls]
    assert r.status_code == 200 and expected in r.text and 'id="nut-xac-nhan-chot"' in r.text
    assert outbox(school, "attendance.finalised") == 0, "the first press only asks"
    r = client.post(f"/tiet/{lesson}/chot", data={"csrf": csrf, "confirm": "1"})
    assert "Đã chốt tiết học." in r.text and f"Đã chốt bởi {teacher[1]}" in r.text and teacher[0] not in \
        r.text.split('id="chot-boi"')[1][:200], "the name is shown, not the code"
    n = 1 + len(absent)
    assert outbox(school, "attendance.finalised") == n and 'id="nut-mo-lai"' in r.text

    # another teacher cannot reopen (not theirs), even as a named substitute (not the one who finalised)
    conn = school_db.connect(school)
    TeacherDesk(conn, RULES, SCHOOL, KEY, TZ).assign_substitute(lesson, other[0], actor="admin")
    school_db.close(conn)
    other_client, other_csrf = client_for(school, other, clock, "10.0.0.2")
    assert other_client.post(f"/tiet/{lesson}/mo-lai", data={"csrf": other_csrf}).status_code == 403

    clock.now = at(7, 40) + timedelta(minutes=RULES.reopen_window_min - 1)
    r = client.post(f"/tiet/{lesson}/mo-lai", data={"csrf": csrf})
    assert r.status_code == 200 and "Đã mở lại tiết học" in r.text and 'id="nut-chot"' in r.text
    conn = school_db.connect(school)
    row = conn.execute("SELECT state, finalised_by, reopened_by FROM lessons WHERE id = ?", (lesson,)).fetchone()
    assert tuple(row) == ("proposed", None, teacher[0])
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'lesson.reopened' AND actor = ?",
                        (teacher[0],)).fetchone()[0] == 1
    school_db.close(conn)
    if absent:
        client.post(f"/tiet/{lesson}/sua", data={"student_id": absent[0], "mark": "K", "csrf": csrf})
    client.post(f"/tiet/{lesson}/chot", data={"csrf": csrf, "confirm": "1"})
    assert outbox(school, "attendance.finalised") == 2 * n, "finalising again re-sends every student's status"
    conn = school_db.connect(school)
    if absent:
        assert conn.execute("SELECT final FROM marks WHERE lesson_id = ? AND student_id = ?",
                            (lesson, absent[0])).fetchone()[0] == "K"
    school_db.close(conn)

    # past the window: refused, nothing changes
    clock.now = at(7, 40) + timedelta(minutes=2 * RULES.reopen_window_min + 1)   # counted from the last chốt
    r = client.post(f"/tiet/{lesson}/mo-lai", data={"csrf": csrf})
    assert r.status_code == 409 and f"Đã quá {RULES.reopen_window_min} phút" in r.text
    assert 'id="nut-mo-lai"' not in client.get(f"/tiet/{lesson}").text


def test_best_sighting_crop_is_shown_with_time_and_confidence_and_kept_for_the_day(school):
    conn = school_db.connect(school)
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ)
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 1), "accept", BICH, 0.62, "t1", crop=face(1)))
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 2), "accept", BICH, 0.81, "t2", crop=face(2)))
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 4), "accept", BICH, 0.70, "t3", crop=face(3)))
    engine.record(Recognition("cam-a102", "classroom", "A102", at(7, 2), "accept", PHIA, 0.77, "t4", crop=face(4)))
    assert conn.execute("SELECT count(*) FROM sightings WHERE crop IS NOT NULL AND student_id = ?",
                        (BICH,)).fetchone()[0] == 1, "only the best crop of a student in a lesson is kept"
    school_db.close(conn)
    ids = lesson_ids(school)
    clock = Clock(at(7, 20))
    client, _ = client_for(school, TEACHER, clock, "10.0.0.1")
    page = client.get(f"/tiet/{ids['10A1']}").text
    assert f'src="/tiet/{ids["10A1"]}/anh/{BICH}"' in page and "Camera: 07:02" in page and "81%" in page
    jpeg = client.get(f"/tiet/{ids['10A1']}/anh/{BICH}")
    assert jpeg.status_code == 200 and jpeg.headers["cache-control"] == "no-store"
    best = cv2.imdecode(np.frombuffer(jpeg.content, np.uint8), cv2.IMREAD_COLOR)
    size = (round(160 * RULES.review_crop_px / 200), RULES.review_crop_px)

    def distance(seed):
        return np.abs(best.astype(int) - cv2.resize(face(seed), size, interpolation=cv2.INTER_AREA)).mean()
    assert best.shape[:2] == size[::-1]
    assert distance(2) < min(distance(1), distance(3)), "the crop of the 0.81 sighting, not the others"
    assert client.get(f"/tiet/{ids['10A2']}/anh/{PHIA}").status_code == 403, "another teacher's class"
    other, _ = client_for(school, TEACHER2, clock, "10.0.0.2")
    assert other.get(f"/tiet/{ids['10A2']}/anh/{PHIA}").status_code == 200
    assert other.get(f"/tiet/{ids['10A1']}/anh/{BICH}").status_code == 403

    conn = school_db.connect(school)
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ)
    assert engine.tick(at(23, 59)).crops_purged == 0, "kept during the day"
    assert engine.tick(at(0, 1, day=at(0, 0).date().replace(day=9))).crops_purged == 2, "deleted after midnight"
    assert conn.execute("SELECT count(*) FROM sightings WHERE crop IS NOT NULL").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sightings").fetchone()[0] == 4, "the sightings themselves remain"
    school_db.close(conn)
    assert client.get(f"/tiet/{ids['10A1']}/anh/{BICH}").status_code == 404


def test_review_items_carry_a_reason_and_suspected_attacks_come_first(school):
    conn = school_db.connect(school)
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ)
    assert engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 1), "unknown", None, None, "u1",
                                     crop=face(5))) == "review"
    assert engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 2), "review", DUYEN, 0.41, "r1",
                                     crop=face(6))) == "review"
    # the presentation-attack detector's way in: an accepted face it doubts is never proposed present
    attack = Recognition("cam-a101", "classroom", "A101", at(7, 3), "accept", CUONG, 0.88, "a1", crop=face(7))
    assert engine.review_sighting(attack, SUSPECT, suspected_attack=True) == "review"
    assert engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 4), "accept", BICH, 0.9, "a2",
                                     crop=face(8), reason=SUSPECT, suspected_attack=True)) == "review"
    assert engine.record(Recognition("cam-a102", "classroom", "A102", at(7, 5), "accept", PHIA, 0.9, "a3",
                                     crop=face(9), reason=SUSPECT, suspected_attack=True)) == "review"
    assert conn.execute("SELECT count(*) FROM marks WHERE proposal IN ('present', 'late')").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0, "review items never leave the school"
    desk = TeacherDesk(conn, RULES, SCHOOL, KEY, TZ)
    lesson = conn.execute("SELECT id FROM lessons WHERE class_id = '10A1'").fetchone()[0]
    order = [(i.suspected_attack, i.decision, i.candidate_id, i.reason) for i in desk.reviews(lesson)]
    assert order == [(True, "review", CUONG, SUSPECT), (True, "review", BICH, SUSPECT),
                     (False, "review", DUYEN, None), (False, "unknown", None, None)]
    school_db.close(conn)
    client, _ = client_for(school, TEACHER, Clock(at(7, 20)), "10.0.0.1")
    page = client.get(f"/tiet/{lesson}").text
    queue = page.split('id="hang-doi"')[1]
    assert queue.index(SUSPECT) < queue.index("Nguyễn Thị Duyên") < queue.index("Khuôn mặt chưa nhận ra")
    assert "07:03:00" in queue and "độ tin cậy 88%" in queue and "Thạch Sô Phia</strong>" not in queue
    assert page.count('class="review suspect"') == 2


def test_reopen_window_is_configured(school):
    rules = AttendanceRules(**{**RULES.model_dump(), "reopen_window_min": 0})
    lesson = lesson_ids(school)["10A2"]
    client, csrf = client_for(school, TEACHER2, Clock(at(7, 40)), "10.0.0.1", rules)
    client.post(f"/tiet/{lesson}/sua", data={"student_id": PHIA, "mark": "present", "csrf": csrf})
    r = client.post(f"/tiet/{lesson}/chot", data={"csrf": csrf, "confirm": "1"})
    assert "Đã chốt tiết học." in r.text and 'id="nut-mo-lai"' in r.text   # within 0 minutes: the same instant
    client2, csrf2 = client_for(school, TEACHER2, Clock(at(7, 41)), "10.0.0.2", rules)
    r = client2.post(f"/tiet/{lesson}/mo-lai", data={"csrf": csrf2})
    assert r.status_code == 409 and "Đã quá 0 phút" in r.text


def test_erasure_deletes_the_students_camera_crops(school):
    """`enroll remove` (consent withdrawn) deletes the student's sighting and review crops at once, not at
    midnight; another student's crops stay."""
    from enrollment_tools.removal import erase_student

    conn = school_db.connect(school)
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ)
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 1), "accept", BICH, 0.8, "t1", crop=face(1)))
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 2), "review", BICH, 0.4, "t2", crop=face(2)))
    engine.record(Recognition("cam-a102", "classroom", "A102", at(7, 2), "accept", PHIA, 0.8, "t3", crop=face(3)))
    with school_db.transaction(conn):
        erase_student(conn, BICH, "rút đồng ý", "admin")
    left = conn.execute("SELECT student_id FROM sightings WHERE crop IS NOT NULL UNION ALL "
                        "SELECT candidate_id FROM review_queue WHERE crop IS NOT NULL").fetchall()
    assert [r[0] for r in left] == [PHIA]
    assert '"crops_removed": 2' in conn.execute("SELECT detail FROM audit_log WHERE action = 'enroll.erase'"
                                                ).fetchone()[0]
    school_db.close(conn)
