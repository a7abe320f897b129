"""Attendance rules: recognitions become *proposals*; the teacher decides (see `attendance_teacher.py`).

- A student of the class scheduled in the camera's room, seen inside the period's check-in window, is proposed
  present (late after the grace); a student of another class is only logged as "seen in room X".
- Review-band and unknown faces go to the review queue with a small face crop that never leaves the school and
  is deleted after `review_crop_days`.
- A gate camera records the day's arrival and departure.
- `tick(now)`: lessons whose window has opened are created; at the end of a window the unseen students are
  *proposed* absent (never finalised); a lesson not finalised `flag_unfinalised_after_min` after its end is
  flagged; old review crops are purged.
Every change is written together with its outbox event in one SQLite transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import cv2
import numpy as np

from edge_agent.attendance.lessons import LessonDesk, ensure_lesson, window
from edge_agent.attendance.timetable import Scheduled, scheduled_on
from edge_agent.config import AttendanceRules
from edge_agent.protocol import EventKind, GateArrivalPayload, PadSuspectedPayload, Source
from edge_agent.store.school_db import audit, transaction

Decision = Literal["accept", "review", "unknown"]
Outcome = Literal["proposed_present", "proposed_late", "already_proposed", "teacher_decided", "seen_in_room",
                  "outside_window", "no_lesson", "gate_arrival", "gate_departure", "gate_seen", "review",
                  "review_duplicate", "unknown_student", "finalised"]


@dataclass(frozen=True)
class Recognition:
    """One decided track from one camera."""

    camera: str
    role: Literal["classroom", "gate"]
    room: str | None
    at: datetime                         # aware; when the student was first seen
    decision: Decision
    student_id: str | None               # accepted student, or review candidate
    score: float | None = None
    track_id: str | None = None
    crop: np.ndarray | None = None       # BGR face crop (review queue, best sighting); never sent anywhere
    direction: Literal["in", "out", "both"] = "both"
    reason: str | None = None            # why a person must look, e.g. "nghi ngờ ảnh/màn hình" (shown on the kiosk)
    suspected_attack: bool = False       # the presentation-attack detector doubts it: never proposed, reviewed first
    pad_score: float | None = None       # PAD's track score, threshold and scored frames (event pad.suspected)
    pad_threshold: float | None = None
    pad_frames: int | None = None


@dataclass
class TickReport:
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    proposed_absent: int = 0
    flagged: list[int] = field(default_factory=list)
    crops_purged: int = 0


class AttendanceEngine(LessonDesk):
    rules: AttendanceRules

    def roster(self, room: str, now: datetime) -> list[str] | None:
        """The active students of the class scheduled in `room` at `now` (by the same check-in/lesson window as
        `record`), for roster-first matching; None when no lesson is on there."""
        slot, _ = self._slot(room, now.astimezone(self.tz))
        if slot is None:
            return None
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM students WHERE class_id = ? AND status = 'active'", (slot.class_id,))]

    # ---- recognitions ------------------------------------------------------------------------------------------
    def record(self, rec: Recognition) -> Outcome:
        if rec.at.tzinfo is None:
            raise ValueError("Recognition.at must be timezone-aware")
        if rec.decision != "accept" or rec.suspected_attack:
            return self._review(rec)
        if rec.role == "gate":
            return self._gate(rec)
        return self._classroom(rec)

    def _slot(self, room: str, local: datetime) -> tuple[Scheduled | None, bool]:
        """The slot of `room` whose check-in window contains `local` (True) or, failing that, whose lesson is
        under way (False)."""
        during = None
        for slot in scheduled_on(self.conn, local.date(), room=room):
            start = datetime.combine(local.date(), slot.start, self.tz)
            end = datetime.combine(local.date(), slot.end, self.tz)
            opens, closes = window(start, self.rules.checkin_before_min, self.rules.checkin_after_min)
            if opens <= local <= closes:
                return slot, True
            if start <= local <= end:
                during = slot
        return during, False

    def _classroom(self, rec: Recognition) -> Outcome:
        local = rec.at.astimezone(self.tz)
        student = self.conn.execute("SELECT class_id, status FROM students WHERE id = ?", (rec.student_id,)).fetchone()
        if student is None or student["status"] != "active":
            return "unknown_student"
        slot, in_window = self._slot(rec.room or "", local)
        with transaction(self.conn):
            if slot is None:
                self._sighting(rec, student["class_id"], None, "outside_window")
                return "no_lesson"
            lesson_id = ensure_lesson(self.conn, local.date(), slot)
            if student["class_id"] != slot.class_id:
                self._sighting(rec, student["class_id"], lesson_id, "seen_in_room")
                return "seen_in_room"
            if not in_window:
                self._sighting(rec, student["class_id"], lesson_id, "outside_window")
                return "outside_window"
            self._sighting(rec, student["class_id"], lesson_id, "in_class")
            return self._propose(lesson_id, slot, rec, local)

    def _propose(self, lesson_id: int, slot: Scheduled, rec: Recognition, local: datetime) -> Outcome:
        lesson = self.conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
        if lesson["state"] == "finalised":
            return "finalised"
        self.conn.execute("INSERT OR IGNORE INTO marks (lesson_id, student_id) VALUES (?, ?)",
                          (lesson_id, rec.student_id))
        mark = self.conn.execute("SELECT * FROM marks WHERE lesson_id = ? AND student_id = ?",
                                 (lesson_id, rec.student_id)).fetchone()
        if mark["mark"] is not None:
            return "teacher_decided"
        if mark["proposal"] in ("present", "late"):
            return "already_proposed"
        start = datetime.combine(local.date(), slot.start, self.tz)
        status = "late" if local > start + timedelta(minutes=self.rules.late_grace_min) else "present"
        self.conn.execute("UPDATE marks SET proposal = ?, proposed_at = ?, score = ? WHERE lesson_id = ? "
                          "AND student_id = ?", (status, rec.at.isoformat(), rec.score, lesson_id, rec.student_id))
        self.events.attendance(EventKind.ATTENDANCE_PROPOSED, lesson, rec.student_id, status,
                               Source(kind="camera", camera_id=rec.camera[:64]), rec.at,
                               previous=mark["proposal"], confidence=rec.score, track_id=rec.track_id)
        return "proposed_late" if status == "late" else "proposed_present"

    def _sighting(self, rec: Recognition, class_id: str | None, lesson_id: int | None, kind: str) -> None:
        """Log the sighting; in a lesson, keep the face crop only of the student's best (highest-score) sighting
        there, on this box and for the day (`tick` deletes crops after local midnight)."""
        crop = None
        if kind == "in_class" and rec.crop is not None:
            best = self.conn.execute("SELECT max(score) FROM sightings WHERE lesson_id = ? AND student_id = ? "
                                     "AND crop IS NOT NULL", (lesson_id, rec.student_id)).fetchone()[0]
            if best is None or (rec.score or 0.0) > best:
                crop = _small_jpeg(rec.crop, self.rules.review_crop_px)
                self.conn.execute("UPDATE sightings SET crop = NULL WHERE lesson_id = ? AND student_id = ?",
                                  (lesson_id, rec.student_id))
        self.conn.execute("INSERT INTO sightings (at, camera, room, student_id, class_id, lesson_id, kind, score, "
                          "crop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (_utc(rec.at), rec.camera, rec.room, rec.student_id, class_id, lesson_id, kind, rec.score,
                           crop))

    # ---- gate --------------------------------------------------------------------------------------------------
    def _gate(self, rec: Recognition) -> Outcome:
        local = rec.at.astimezone(self.tz)
        student = self.conn.execute("SELECT class_id FROM students WHERE id = ?", (rec.student_id,)).fetchone()
        if student is None:
            return "unknown_student"
        day = local.date().isoformat()
        with transaction(self.conn):
            row = self.conn.execute("SELECT * FROM gate_log WHERE date = ? AND student_id = ?",
                                    (day, rec.student_id)).fetchone()
            direction = rec.direction
            if direction == "both":
                direction = "in" if row is None or row["arrival_at"] is None else "out"
            if direction == "in":
                if row is not None and row["arrival_at"] is not None:
                    return "gate_seen"
                self.conn.execute("INSERT INTO gate_log (date, student_id, arrival_at) VALUES (?, ?, ?) "
                                  "ON CONFLICT(date, student_id) DO UPDATE SET arrival_at = excluded.arrival_at",
                                  (day, rec.student_id, rec.at.isoformat()))
            else:
                if row is not None and row["departure_at"] is not None and \
                        datetime.fromisoformat(row["departure_at"]) > rec.at - timedelta(minutes=5):
                    return "gate_seen"     # the same departure seen again: no new event
                self.conn.execute("INSERT INTO gate_log (date, student_id, departure_at) VALUES (?, ?, ?) "
                                  "ON CONFLICT(date, student_id) DO UPDATE SET departure_at = excluded.departure_at",
                                  (day, rec.student_id, rec.at.isoformat()))
            payload = GateArrivalPayload(student_id=rec.student_id, class_code=student["class_id"], date=local.date(),
                                         direction=direction, gate=rec.camera[:64],
                                         source=Source(kind="camera", camera_id=rec.camera[:64]),
                                         observed_at=rec.at, track_id=rec.track_id,
                                         confidence=None if rec.score is None else min(1.0, max(0.0, rec.score)))
            self.events.outbox.enqueue(EventKind.GATE_ARRIVAL, payload)
        return "gate_arrival" if direction == "in" else "gate_departure"

    # ---- review queue ------------------------------------------------------------------------------------------
    def review_sighting(self, rec: Recognition, reason: str, *, suspected_attack: bool = False) -> Outcome:
        """Put one camera sighting in the teacher's review queue with a reason and its face crop, whatever the
        recogniser decided: e.g. `review_sighting(rec, "nghi ngờ ảnh/màn hình", suspected_attack=True)` from the
        presentation-attack detector. A suspected attack is never proposed present and is listed first."""
        if rec.at.tzinfo is None:
            raise ValueError("Recognition.at must be timezone-aware")
        decision = "review" if rec.student_id else "unknown"
        return self._review(replace(rec, decision=decision, reason=reason.strip()[:200] or None,
                                    suspected_attack=suspected_attack or rec.suspected_attack))

    def _review(self, rec: Recognition) -> Outcome:
        local = rec.at.astimezone(self.tz)
        crop = _small_jpeg(rec.crop, self.rules.review_crop_px) if self.rules.review_crop_days > 0 else None
        with transaction(self.conn):
            if rec.track_id is not None and self.conn.execute(
                    "SELECT 1 FROM review_queue WHERE camera = ? AND track_id = ? AND state = 'pending'",
                    (rec.camera, rec.track_id)).fetchone():
                return "review_duplicate"
            lesson_id = None
            if rec.role == "classroom" and rec.room:
                slot, _ = self._slot(rec.room, local)
                if slot is not None:
                    lesson_id = ensure_lesson(self.conn, local.date(), slot)
            self.conn.execute(
                "INSERT INTO review_queue (at, camera, room, lesson_id, decision, candidate_id, score, track_id, crop,"
                " reason, suspected_attack) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_utc(rec.at), rec.camera, rec.room, lesson_id, "unknown" if rec.decision == "unknown" else "review",
                 rec.student_id if rec.decision != "unknown" else None, rec.score, rec.track_id, crop,
                 rec.reason, int(rec.suspected_attack)))
            if rec.suspected_attack and rec.pad_score is not None:
                self._pad_event(rec, local)
        return "review"

    def _pad_event(self, rec: Recognition, local: datetime) -> None:
        """The event of a track the camera refused as a suspected photo / screen (same transaction)."""
        payload = PadSuspectedPayload(student_id=rec.student_id if rec.decision != "unknown" else None,
                                      date=local.date(), source=Source(kind="camera", camera_id=rec.camera[:64]),
                                      observed_at=rec.at, track_id=rec.track_id, pad_score=rec.pad_score,
                                      pad_threshold=rec.pad_threshold, pad_frames=rec.pad_frames,
                                      confidence=None if rec.score is None else min(1.0, max(0.0, rec.score)))
        self.events.outbox.enqueue(EventKind.PAD_SUSPECTED, payload)

    # ---- time passes -------------------------------------------------------------------------------------------
    def tick(self, now: datetime) -> TickReport:
        """Open lessons whose window has started, propose absences where it has closed, flag, purge."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(self.tz)
        report = TickReport()
        with transaction(self.conn):
            for slot in scheduled_on(self.conn, local.date()):
                start = datetime.combine(local.date(), slot.start, self.tz)
                opens, closes = window(start, self.rules.checkin_before_min, self.rules.checkin_after_min)
                if local < opens:
                    continue
                known = self.conn.execute("SELECT id FROM lessons WHERE date = ? AND session = ? AND period = ? "
                                          "AND class_id = ?", (local.date().isoformat(), slot.session, slot.period,
                                                               slot.class_id)).fetchone()
                lesson_id = ensure_lesson(self.conn, local.date(), slot)
                if known is None:
                    report.opened.append(lesson_id)
                if local >= closes:
                    self._close_window(lesson_id, closes, report)
            self._flag(local, report)
            report.crops_purged = self._purge_crops(now)
        return report

    def _close_window(self, lesson_id: int, closes: datetime, report: TickReport) -> None:
        lesson = self.conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
        if lesson["state"] != "open":
            return
        unseen = [r[0] for r in self.conn.execute(
            "SELECT student_id FROM marks WHERE lesson_id = ? AND proposal IS NULL AND mark IS NULL "
            "ORDER BY student_id", (lesson_id,))]
        for student_id in unseen:
            self.conn.execute("UPDATE marks SET proposal = 'absent', proposed_at = ? WHERE lesson_id = ? "
                              "AND student_id = ?", (closes.isoformat(), lesson_id, student_id))
            self.events.attendance(EventKind.ATTENDANCE_PROPOSED, lesson, student_id, "absent",
                                   Source(kind="system", device_id=self.events.device_id), closes)
        self.conn.execute("UPDATE lessons SET state = 'proposed', window_closed_at = ? WHERE id = ?",
                          (closes.isoformat(), lesson_id))
        report.closed.append(lesson_id)
        report.proposed_absent += len(unseen)

    def _flag(self, local: datetime, report: TickReport) -> None:
        rows = self.conn.execute("SELECT l.id, l.date, b.end_time FROM lessons l JOIN bell_periods b "
                                 "ON b.session = l.session AND b.period = l.period "
                                 "WHERE l.state != 'finalised' AND l.flagged_at IS NULL").fetchall()
        for row in rows:
            end = datetime.fromisoformat(f"{row['date']}T{row['end_time']}").replace(tzinfo=self.tz)
            if local >= end + timedelta(minutes=self.rules.flag_unfinalised_after_min):
                self.conn.execute("UPDATE lessons SET flagged_at = ? WHERE id = ?", (local.isoformat(), row["id"]))
                audit(self.conn, "system", "lesson.flagged_unfinalised", f"lesson:{row['id']}",
                      f"not finalised {self.rules.flag_unfinalised_after_min} min after its end")
                report.flagged.append(row["id"])

    def _purge_crops(self, now: datetime) -> int:
        cutoff = _utc(now - timedelta(days=self.rules.review_crop_days))
        cur = self.conn.execute("UPDATE review_queue SET crop = NULL WHERE crop IS NOT NULL AND at < ?", (cutoff,))
        midnight = datetime.combine(now.astimezone(self.tz).date(), datetime.min.time(), self.tz)
        day = self.conn.execute("UPDATE sightings SET crop = NULL WHERE crop IS NOT NULL AND at < ?", (_utc(midnight),))
        return cur.rowcount + day.rowcount


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _small_jpeg(crop: np.ndarray | None, size: int) -> bytes | None:
    if crop is None or crop.size == 0:
        return None
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    if scale < 1:
        crop = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else None
