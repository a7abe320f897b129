"""Learning from confirmed sightings, in the school database (the rules are `edge_agent.recognition.learning`).

1. `keep_sighting`: when the camera proposes a student present (or sends a track to review with a candidate),
   the best frame's embedding of that track is kept
   (AES-GCM encrypted like every template, one per lesson and student, the best quality wins) in
   `sighting_embeddings`. It is never sent anywhere.
2. `learn_finalised`: once the teacher has finalised the lesson, each kept embedding of a student the camera
   proposed present and the teacher finalised present *without correcting the mark* (or whose review item the
   teacher confirmed as the camera's candidate) is judged by the policy:
   consent for `LEARNING_PURPOSE`, quality floor, high-margin score, drift guard against the student's enrolled
   templates, at most K learned templates (the most redundant replaced). A learned template is a
   `face_templates` row with `source = 'learned'` and `learned_from` (lesson, track, camera, the finalising
   teacher, scores), so it is listed by `enroll status --student`, exported in gallery packages and erased with
   the student. Each one is audited (`learning.add` / `learning.replace`), and each lesson's outcome too
   (`learning.lesson`). The lesson's kept embeddings are deleted then, learned or not.
3. `purge_unused`: embeddings of lessons of earlier days (never finalised) are deleted.
With `[recognition] learning = false` the caller runs `learn_finalised(..., enabled=False)`: nothing is
learned and the kept embeddings are deleted all the same.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date

import numpy as np

from edge_agent.recognition import template_store
from edge_agent.recognition.learning import LEARNING_PURPOSE, Confirmation, LearningPolicy, cap_victim
from edge_agent.recognition.template_store import TemplateCipher
from edge_agent.store.school_db import audit, connect, now_iso, transaction

log = logging.getLogger(__name__)

ACTOR = "system:learning"


def keep_sighting(conn: sqlite3.Connection, cipher: TemplateCipher, model_sha256: str, *, student_id: str,
                  proposed_at: str, camera: str, track_id: str | None, quality: float, score: float, margin: float,
                  embedding: np.ndarray, via: str = "proposal") -> bool:
    """Keep the best frame of a proposed-present track (`via="proposal"`) or of a review item whose candidate is
    `student_id` (`via="review"`) until its lesson is finalised; False if there is no such proposal or review in
    an open lesson, or a better frame is already kept."""
    if via == "review":
        row = conn.execute("SELECT q.lesson_id FROM review_queue q JOIN lessons l ON l.id = q.lesson_id WHERE "
                           "q.camera = ? AND q.track_id = ? AND q.candidate_id = ? AND q.state = 'pending' AND "
                           "l.state != 'finalised'", (camera, track_id, student_id)).fetchone()
    else:
        row = conn.execute("SELECT m.lesson_id FROM marks m JOIN lessons l ON l.id = m.lesson_id WHERE "
                           "m.student_id = ? AND m.proposed_at = ? AND m.proposal IN ('present', 'late') "
                           "AND l.state != 'finalised'", (student_id, proposed_at)).fetchone()
    if row is None:
        return False
    kept = conn.execute("SELECT quality FROM sighting_embeddings WHERE lesson_id = ? AND student_id = ?",
                        (row[0], student_id)).fetchone()
    if kept is not None and kept[0] >= quality:
        return False
    nonce, ct = cipher.seal(student_id, model_sha256, np.asarray(embedding, np.float32).reshape(-1))
    conn.execute("INSERT OR REPLACE INTO sighting_embeddings (lesson_id, student_id, camera, track_id, via, "
                 "model_sha256, quality, score, margin, nonce, ciphertext, created_at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (row[0], student_id, camera[:64], track_id, via, model_sha256, float(quality), float(score),
                  float(margin), nonce, ct, now_iso()))
    return True


def required_givers(dob: str | None, on: date) -> set[str]:
    """Who must consent (same rule as `enrollment_tools.consent.required_givers`: Decree 13/2023 Art. 20)."""
    try:
        born = date.fromisoformat((dob or "")[:10])
    except ValueError:
        return {"parent", "student"}
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if age >= 18:
        return {"student"}
    return {"parent", "student"} if age >= 7 else {"parent"}


def has_consent(conn: sqlite3.Connection, student_id: str, purpose: str = LEARNING_PURPOSE,
                on: date | None = None) -> bool:
    """Every required giver has an unwithdrawn consent for `purpose` (silence is not consent)."""
    row = conn.execute("SELECT date_of_birth FROM students WHERE id = ?", (student_id,)).fetchone()
    if row is None:
        return False
    given = {r[0] for r in conn.execute("SELECT given_by FROM consents WHERE student_id = ? AND purpose = ? AND "
                                        "withdrawn_at IS NULL", (student_id, purpose))}
    return required_givers(row[0], on or date.today()) <= given


def learn_finalised(conn: sqlite3.Connection, cipher: TemplateCipher, model, policy: LearningPolicy,
                    enabled: bool = True) -> dict[str, int]:
    """Learn from every finalised lesson that still has kept embeddings; counts per outcome (see `REASONS`)."""
    totals: dict[str, int] = {}
    lessons = [r[0] for r in conn.execute(
        "SELECT DISTINCT e.lesson_id FROM sighting_embeddings e JOIN lessons l ON l.id = e.lesson_id "
        "WHERE l.state = 'finalised' ORDER BY e.lesson_id")]
    for lesson_id in lessons:
        for k, v in learn_lesson(conn, cipher, model, lesson_id, policy, enabled).items():
            totals[k] = totals.get(k, 0) + v
    return totals


def learn_lesson(conn: sqlite3.Connection, cipher: TemplateCipher, model, lesson_id: int, policy: LearningPolicy,
                 enabled: bool = True) -> dict[str, int]:
    """Learn from one finalised lesson (one transaction), then delete its kept embeddings."""
    counts: dict[str, int] = {}
    with transaction(conn):
        lesson = conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
        if lesson is None or lesson["state"] != "finalised":
            return counts
        rows = conn.execute(
            "SELECT e.*, m.proposal, m.mark, m.final FROM sighting_embeddings e LEFT JOIN marks m "
            "ON m.lesson_id = e.lesson_id AND m.student_id = e.student_id WHERE e.lesson_id = ? "
            "AND e.model_sha256 = ? ORDER BY e.student_id", (lesson_id, model.sha256)).fetchall() if enabled else []
        added = 0
        for r in rows:
            reason = _learn_one(conn, cipher, model, lesson, r, policy)
            counts[reason] = counts.get(reason, 0) + 1
            added += reason in ("learned", "replaced")
        conn.execute("DELETE FROM sighting_embeddings WHERE lesson_id = ?", (lesson_id,))
        if added:
            template_store.bump_version(conn, ACTOR, f"learned from lesson {lesson_id}")
        audit(conn, ACTOR, "learning.lesson", f"lesson:{lesson_id}",
              json.dumps({"enabled": enabled, "finalised_by": lesson["finalised_by"], **counts}))
    return counts


def _learn_one(conn, cipher, model, lesson, r, policy: LearningPolicy) -> str:
    sid = r["student_id"]
    if r["via"] == "review":  # the teacher confirmed this very track as the camera's candidate
        confirmed = r["final"] in ("present", "late") and conn.execute(
            "SELECT 1 FROM review_queue WHERE camera = ? AND track_id = ? AND state = 'confirmed' AND "
            "resolved_student_id = ?", (r["camera"], r["track_id"], sid)).fetchone() is not None
    else:  # proposed present by the camera, finalised present, and the teacher never changed the mark
        confirmed = r["proposal"] in ("present", "late") and r["mark"] is None and r["final"] in ("present", "late")
    emb = cipher.open(sid, model.sha256, r["nonce"], r["ciphertext"])
    c = Confirmation(sid, [(float(r["quality"]), emb)], float(r["score"]), float(r["margin"]),
                     corrected=not confirmed, consent=has_consent(conn, sid), via=r["via"])
    enrolled = template_store.load(conn, cipher, model.sha256, [sid], learned=False)
    reason, new, drift = policy.judge(c, enrolled.embeddings if len(enrolled) else None)
    if reason != "learned":
        return reason
    learned = template_store.load(conn, cipher, model.sha256, [sid], learned=True)
    replaced = None
    if len(learned) >= policy.max_learned:
        if policy.max_learned == 0:
            return "redundant"
        victim = cap_victim(enrolled.embeddings, learned.embeddings, new)
        if victim == len(learned):
            return "redundant"
        replaced = int(learned.row_ids[victim])  # row_ids are in creation order: ties drop the oldest
        template_store.delete_rows(conn, [replaced])
    source = {"lesson_id": lesson["id"], "date": lesson["date"], "track_id": r["track_id"], "camera": r["camera"],
              "via": r["via"], "finalised_by": lesson["finalised_by"], "finalised_at": lesson["finalised_at"],
              "score": round(float(r["score"]), 4), "margin": round(float(r["margin"]), 4),
              "drift_score": round(drift, 4), "purpose": LEARNING_PURPOSE}
    row_id = template_store.add(conn, cipher, sid, model, new, float(r["quality"]), "learned",
                                learned_from=json.dumps(source, ensure_ascii=False))
    audit(conn, ACTOR, "learning.replace" if replaced else "learning.add", sid,
          json.dumps({**source, "template_id": row_id, "replaced_template_id": replaced}, ensure_ascii=False))
    return "replaced" if replaced else "learned"


def purge_unused(conn: sqlite3.Connection, today: date) -> int:
    """Delete the kept embeddings of lessons before `today` (their lessons were never finalised)."""
    with transaction(conn):
        return conn.execute("DELETE FROM sighting_embeddings WHERE lesson_id IN (SELECT id FROM lessons WHERE "
                            "date < ?)", (today.isoformat(),)).rowcount


def erase_student(conn: sqlite3.Connection, student_id: str, request_id: str, actor: str) -> int:
    """A central erasure request reached the school: delete every template (enrolled and learned) and every kept
    sighting embedding of the student from the school database; audited. Returns the templates deleted."""
    with transaction(conn):
        n = conn.execute("DELETE FROM face_templates WHERE student_id = ?", (student_id,)).rowcount
        k = conn.execute("DELETE FROM sighting_embeddings WHERE student_id = ?", (student_id,)).rowcount
        if n:
            template_store.bump_version(conn, actor, f"erasure {student_id}")
        audit(conn, actor, "erasure.central", student_id,
              json.dumps({"request_id": request_id, "templates_removed": n, "sighting_embeddings_removed": k}))
    return n


def erase_in_school_db(db_path, student_id: str, request_id: str, actor: str = "central") -> None:
    """The service's down-sync hook for a central erasure request (runs on the MQTT thread, so its own connection):
    the live gallery is already clean; a failure here is logged for the operator (`enroll remove` finishes it)."""
    conn = connect(db_path)
    try:
        erase_student(conn, student_id, request_id, actor)
    except Exception:  # noqa: BLE001 - never break the MQTT thread
        log.exception("erasure %s: could not delete %s's templates in the school database", request_id, student_id)
    finally:
        conn.close()
