"""Learning from confirmed sightings on a real school database, with real embeddings of real webcam photos
(ea-nuaa-webcam-15: enrolled from one session, seen by the "camera" in another; a never-enrolled subject is the
stranger). The rules: consent for the purpose, never a corrected track, the drift guard, the cap, erasure,
audit, and the poisoning attempt."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import date

import numpy as np
import pytest
from school_testkit import RULES, SCHOOL, STUDENTS, TZ, at, make_school

from edge_agent.attendance.proposals import AttendanceEngine, Recognition
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.store import school_db

BICH, CUONG, DUYEN, PHIA = list(STUDENTS)
GALLERY_KEY = os.urandom(32)
TEACHER = "GV001"


@pytest.fixture(scope="module")
def faces(datasets, model_store):
    """{subject: {session: [embedding, ...]}} for three enrolled subjects and one stranger (real pipeline)."""
    from edge_agent.vision.analyzer import FaceAnalyzer
    from edge_agent.vision.image_io import load_image

    analyzer = FaceAnalyzer.from_store(model_store, threads=1)
    out = {}
    for subject in ("0001", "0004", "0005", "0012"):
        by_session = defaultdict(list)
        paths = sorted((datasets / "ea-nuaa-webcam-15" / f"nuaa_{subject}").glob("*.jpg"))
        for p in paths[:: max(1, len(paths) // 12)]:
            found = analyzer.analyze(load_image(p))
            if found:
                by_session[p.stem.split("_")[3]].append((found[0].quality.score, found[0].embedding))
        out[subject] = dict(sorted(by_session.items()))
    return out


SUBJECT = {BICH: "0001", CUONG: "0004", DUYEN: "0005"}
STRANGER = "0012"


@pytest.fixture()
def school(tmp_path, faces, model_store):
    from edge_agent.recognition import template_store
    from edge_agent.recognition.template_store import TemplateCipher

    conn = school_db.connect(make_school(tmp_path))
    cipher = TemplateCipher(GALLERY_KEY, SCHOOL)
    entry = model_store.default("embedder")
    model = type("M", (), {"name": entry.name, "sha256": entry.final.sha256})()
    with school_db.transaction(conn):
        for sid, subject in SUBJECT.items():
            first = next(iter(faces[subject].values()))
            for q, emb in first[:2]:  # two enrolment photos from the first session
                template_store.add(conn, cipher, sid, model, emb, q, "photo")
    yield conn, cipher, model
    school_db.close(conn)


def consent(conn, sid, purpose="cai_thien_nhan_dang"):
    with school_db.transaction(conn):
        for giver in ("parent", "student"):
            conn.execute("INSERT INTO consents (student_id, purpose, given_by, given_at) VALUES (?, ?, ?, ?)",
                         (sid, purpose, giver, "2025-09-01"))


def other_session(faces, subject):
    sessions = list(faces[subject].values())
    return sessions[1] if len(sessions) > 1 else sessions[0]


def policy():
    from edge_agent.recognition.learning import LearningPolicy
    from edge_agent.recognition.recognizer import DecisionThresholds

    return LearningPolicy.from_thresholds(DecisionThresholds.calibrated(), max_learned=2)


def propose(conn, cipher, model, engine, sid, sample, hh=6, mm=55, score=0.80, margin=0.25, track="t1"):
    """The camera proposes `sid` present and keeps the track's best frame (what the service does)."""
    from edge_agent.recognition.learned_store import keep_sighting

    rec = Recognition(camera="cam-a101", role="classroom", room="A101", at=at(hh, mm), decision="accept",
                      student_id=sid, score=score, track_id=track)
    assert engine.record(rec) in ("proposed_present", "proposed_late")
    with school_db.transaction(conn):
        return keep_sighting(conn, cipher, model.sha256, student_id=sid, proposed_at=rec.at.isoformat(),
                             camera="cam-a101", track_id=track, quality=sample[0], score=score, margin=margin,
                             embedding=sample[1])


def learned_rows(conn, sid=None):
    sql = "SELECT * FROM face_templates WHERE source = 'learned'" + (" AND student_id = ?" if sid else "")
    return conn.execute(sql, (sid,) if sid else ()).fetchall()


def finalise(conn, desk):
    """The teacher finalises the period of the kept frame (unseen students marked K first)."""
    lesson_id = conn.execute("SELECT lesson_id FROM sighting_embeddings").fetchone()[0]
    for (sid,) in conn.execute("SELECT student_id FROM marks WHERE lesson_id = ? AND proposal IS NULL",
                               (lesson_id,)).fetchall():
        desk.correct(lesson_id, sid, "K", TEACHER)
    desk.finalise(lesson_id, TEACHER)


def engines(conn):
    return (AttendanceEngine(conn, RULES, SCHOOL, GALLERY_KEY, TZ, device_id="edge-test"),
            TeacherDesk(conn, RULES, SCHOOL, GALLERY_KEY, TZ, device_id="kiosk-test"))


def test_confirmed_sighting_teaches_only_with_consent_and_never_from_a_corrected_track(school, faces):
    from edge_agent.recognition.learned_store import learn_finalised

    conn, cipher, model = school
    engine, desk = engines(conn)
    consent(conn, BICH)
    consent(conn, DUYEN)                                   # CUONG has no consent for this purpose
    for sid in (BICH, CUONG, DUYEN):
        assert propose(conn, cipher, model, engine, sid, other_session(faces, SUBJECT[sid])[0], track=f"t-{sid}")
    lesson_id = conn.execute("SELECT lesson_id FROM sighting_embeddings LIMIT 1").fetchone()[0]
    desk.correct(lesson_id, DUYEN, "late", TEACHER)         # the teacher changed DUYEN's mark: corrected
    assert learn_finalised(conn, cipher, model, policy()) == {}, "nothing is learned before finalisation"
    desk.finalise(lesson_id, TEACHER)
    counts = learn_finalised(conn, cipher, model, policy())
    assert counts == {"learned": 1, "no_consent": 1, "corrected": 1}
    rows = learned_rows(conn)
    assert [r["student_id"] for r in rows] == [BICH]
    src = json.loads(rows[0]["learned_from"])
    assert (src["lesson_id"], src["finalised_by"], src["track_id"], src["via"]) == (lesson_id, TEACHER, f"t-{BICH}",
                                                                                     "proposal")
    assert src["drift_score"] >= policy().drift_floor
    assert rows[0]["ciphertext"] != np.asarray(other_session(faces, "0001")[0][1], "<f4").tobytes()
    audit = conn.execute("SELECT * FROM audit_log WHERE action = 'learning.add'").fetchall()
    assert [a["target"] for a in audit] == [BICH] and f'"finalised_by": "{TEACHER}"' in audit[0]["detail"]
    assert conn.execute("SELECT count(*) FROM sighting_embeddings").fetchone()[0] == 0, "kept frames are deleted"
    assert learn_finalised(conn, cipher, model, policy()) == {}, "a lesson teaches once"


def test_learning_switched_off_learns_nothing_and_deletes_the_kept_frames(school, faces):
    from edge_agent.recognition.learned_store import learn_finalised

    conn, cipher, model = school
    engine, desk = engines(conn)
    consent(conn, BICH)
    propose(conn, cipher, model, engine, BICH, other_session(faces, "0001")[0])
    finalise(conn, desk)
    assert learn_finalised(conn, cipher, model, policy(), enabled=False) == {}
    assert learned_rows(conn) == [] and conn.execute("SELECT count(*) FROM sighting_embeddings").fetchone()[0] == 0


def test_unfinalised_frames_are_deleted_at_the_end_of_the_day(school, faces):
    from edge_agent.recognition.learned_store import purge_unused

    conn, cipher, model = school
    engine, _ = engines(conn)
    propose(conn, cipher, model, engine, BICH, other_session(faces, "0001")[0])
    assert purge_unused(conn, date(2025, 9, 8)) == 0           # same day: kept until the teacher finalises
    assert purge_unused(conn, date(2025, 9, 9)) == 1


def test_the_cap_keeps_at_most_k_learned_templates(school, faces):
    from edge_agent.recognition.learned_store import learn_finalised

    conn, cipher, model = school
    engine, desk = engines(conn)
    consent(conn, BICH)
    frames = [s for sess in list(faces["0001"].values())[1:] for s in sess] or list(faces["0001"].values())[0]
    outcomes = []
    for i, sample in enumerate(frames[:5]):   # five days, one confirmed sighting a day (period 1, Monday)
        conn.execute("DELETE FROM lessons")     # a fresh lesson for the same slot, as on another Monday
        propose(conn, cipher, model, engine, BICH, sample, track=f"t{i}")
        finalise(conn, desk)
        outcomes += list(learn_finalised(conn, cipher, model, policy()))
        assert len(learned_rows(conn, BICH)) <= 2
    assert len(learned_rows(conn, BICH)) == 2 and outcomes[:2] == ["learned", "learned"]
    assert set(outcomes[2:]) <= {"replaced", "redundant"}
    assert conn.execute("SELECT count(*) FROM face_templates WHERE student_id = ? AND source = 'photo'",
                        (BICH,)).fetchone()[0] == 2, "enrolled templates are never replaced"


def test_poisoning_a_stranger_confirmed_again_and_again_never_becomes_the_student(school, faces):
    """A teacher wrongly confirms a stranger as BICH every period, with the camera sure of itself (high score and
    margin): the drift guard refuses every frame, and the stranger never matches BICH's templates better."""
    from edge_agent.recognition import template_store
    from edge_agent.recognition.learned_store import learn_finalised

    conn, cipher, model = school
    engine, desk = engines(conn)
    consent(conn, BICH)
    before = template_store.load(conn, cipher, model.sha256, [BICH]).embeddings
    stranger = [s for sess in faces[STRANGER].values() for s in sess]
    outcomes = []
    for i, sample in enumerate(stranger):
        conn.execute("DELETE FROM lessons")
        propose(conn, cipher, model, engine, BICH, sample, score=0.9, margin=0.4, track=f"s{i}")
        finalise(conn, desk)
        outcomes += list(learn_finalised(conn, cipher, model, policy()))
    assert len(stranger) >= 5 and outcomes == ["drift"] * len(stranger)
    assert learned_rows(conn) == []
    after = template_store.load(conn, cipher, model.sha256, [BICH]).embeddings
    probe = np.stack([e for _, e in stranger])
    assert (probe @ after.T).max() <= (probe @ before.T).max() + 1e-6


def test_enroll_remove_erases_learned_templates_and_kept_frames(school, faces):
    from edge_agent.recognition.learned_store import learn_finalised
    from enrollment_tools.removal import erase_student

    conn, cipher, model = school
    engine, desk = engines(conn)
    consent(conn, BICH)
    propose(conn, cipher, model, engine, BICH, other_session(faces, "0001")[0])
    finalise(conn, desk)
    learn_finalised(conn, cipher, model, policy())
    conn.execute("DELETE FROM lessons")
    propose(conn, cipher, model, engine, BICH, other_session(faces, "0001")[1], track="t2")  # kept, not finalised
    assert len(learned_rows(conn, BICH)) == 1
    with school_db.transaction(conn):
        erasure = erase_student(conn, BICH, "rút lại đồng ý", "it-staff")
    assert erasure.templates_removed == 3                    # 2 enrolled + 1 learned
    assert learned_rows(conn) == [] and conn.execute(
        "SELECT count(*) FROM sighting_embeddings WHERE student_id = ?", (BICH,)).fetchone()[0] == 0


def test_the_running_service_keeps_the_best_frame_learns_after_finalisation_and_refreshes_its_gallery(
        school, faces, tmp_path):
    """The service side: a decided track's best frame is kept at the proposal, learned once the teacher finalises,
    and the live gallery (and its file) then holds the learned template, as do the gallery packages' templates."""
    from edge_agent.recognition import template_store
    from edge_agent.recognition.gallery import Gallery, GalleryMeta
    from edge_agent.recognition.learning_loop import LearningLoop
    from edge_agent.recognition.recognizer import TrackDecision

    conn, cipher, model = school
    engine, desk = engines(conn)
    consent(conn, BICH)
    enrolled = template_store.load(conn, cipher, model.sha256)
    live = Gallery(enrolled.embeddings, enrolled.student_ids, GalleryMeta(model.name, model.sha256))
    seal = GallerySeal(os.urandom(32), "THPT-LEARN")
    loop = LearningLoop(conn, cipher, model, policy(), live, tmp_path / "gallery.npz", seal=seal)
    q, emb = other_session(faces, "0001")[0]
    d = TrackDecision(track_id=7, outcome="accept", student_id=BICH, score=0.8, margin=0.3, scope="roster",
                      other_class=False, frames_used=5, first_ts=0.0, last_ts=1.0, best_quality=q, best_embedding=emb)
    assert "best_embedding" not in d.to_json_dict(), "the embedding is never printed"
    rec = Recognition(camera="cam-a101", role="classroom", room="A101", at=at(6, 56), decision="accept",
                      student_id=BICH, score=0.8, track_id="cam-a101-7")
    assert engine.record(rec) == "proposed_present"
    assert loop.keep(d, proposed_at=rec.at.isoformat(), camera="cam-a101", track_id="cam-a101-7")
    assert loop.tick(date(2025, 9, 8)) == {} and live.n_templates == 6, "nothing before finalisation"
    finalise(conn, desk)
    assert loop.tick(date(2025, 9, 8)) == {"learned": 1}
    assert live.n_templates == 7 and Gallery.load(tmp_path / "gallery.npz", seal=seal).n_templates == 7
    assert BICH.encode() not in (tmp_path / "gallery.npz").read_bytes()  # the refreshed file stays encrypted
    assert len(template_store.load(conn, cipher, model.sha256)) == 7  # what `enroll export` packages
    off = LearningLoop(conn, cipher, model, policy(), live, enabled=False)
    assert not off.keep(d, proposed_at=rec.at.isoformat(), camera="cam-a101", track_id="cam-a101-7")
    # the learning consent withdrawn: learned templates go (the enrolment stays), the live gallery follows;
    # a student erased from the live gallery meanwhile is not brought back by the refresh
    from enrollment_tools.consent import withdraw

    live.remove(CUONG)
    with school_db.transaction(conn):
        erasure = withdraw(conn, BICH, "cai_thien_nhan_dang", "parent", "it-staff")
    assert (erasure.templates_removed, erasure.learned_only) == (1, True)
    assert learned_rows(conn) == [] and len(template_store.load(conn, cipher, model.sha256, [BICH])) == 2
    assert conn.execute("SELECT count(*) FROM erasure_queue").fetchone()[0] == 0, "the student stays enrolled"
    loop.tick(date(2025, 9, 8))
    assert BICH in live and CUONG not in live and live.n_templates == 4
