"""Lessons (one class in one period on one date) and the events every change to them produces.

Shared by the camera-side rules (`attendance.py`) and the teacher-side actions (`attendance_teacher.py`):
materialising a lesson with one mark row per active student, and writing an outbox event in the caller's
transaction, linked to the lesson so the kiosk can show whether it was delivered.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge_agent.attendance.timetable import Scheduled
from edge_agent.protocol import AttendancePayload, AttendanceStatus, EventKind, Source
from edge_agent.sync.outbox import Outbox

STATUS = {"present": AttendanceStatus.PRESENT, "late": AttendanceStatus.LATE,
          "absent": AttendanceStatus.ABSENT_PROPOSED, "P": AttendanceStatus.EXCUSED, "K": AttendanceStatus.UNEXCUSED}


class AttendanceError(ValueError):
    """A teacher action that cannot be applied; the message says why (Vietnamese, shown on the kiosk)."""


class NotYourLesson(AttendanceError):
    """The teacher is neither the lesson's teacher in the timetable nor its named substitute."""


@dataclass(frozen=True)
class Lesson:
    id: int
    date: date
    session: str
    period: int
    class_id: str
    room: str
    subject: str
    teacher_id: str | None
    state: str
    start: datetime            # aware, school time zone
    end: datetime
    flagged: bool
    finalised_by: str | None
    substitute_id: str | None = None
    finalised_at: datetime | None = None

    def taught_by(self, teacher_id: str) -> bool:
        """The lesson's own teacher (timetable) or its named substitute: the only ones who may act on it."""
        mine = (teacher_id or "").strip().upper()
        return bool(mine) and mine in {(x or "").strip().upper() for x in (self.teacher_id, self.substitute_id)}


def lesson_from_row(row: sqlite3.Row, bells: dict[tuple[str, int], tuple[time, time]], tz: ZoneInfo) -> Lesson:
    day = date.fromisoformat(row["date"])
    start_t, end_t = bells.get((row["session"], row["period"]), (time(0, 0), time(0, 45)))
    return Lesson(row["id"], day, row["session"], row["period"], row["class_id"], row["room"], row["subject"],
                  row["teacher_id"], row["state"], datetime.combine(day, start_t, tz),
                  datetime.combine(day, end_t, tz), row["flagged_at"] is not None, row["finalised_by"],
                  row["substitute_teacher_id"],
                  datetime.fromisoformat(row["finalised_at"]) if row["finalised_at"] else None)


def bells_map(conn: sqlite3.Connection) -> dict[tuple[str, int], tuple[time, time]]:
    return {(r["session"], r["period"]): (time.fromisoformat(r["start_time"]), time.fromisoformat(r["end_time"]))
            for r in conn.execute("SELECT * FROM bell_periods")}


def ensure_lesson(conn: sqlite3.Connection, day: date, slot: Scheduled) -> int:
    """The lesson row for this slot (created with a mark row per active student of the class); in a transaction."""
    row = conn.execute("SELECT id FROM lessons WHERE date = ? AND session = ? AND period = ? AND class_id = ?",
                       (day.isoformat(), slot.session, slot.period, slot.class_id)).fetchone()
    if row:
        lesson_id = row[0]
    else:
        lesson_id = conn.execute(
            "INSERT INTO lessons (date, session, period, class_id, room, subject, teacher_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (day.isoformat(), slot.session, slot.period, slot.class_id, slot.room,
                                             slot.subject, slot.teacher_id)).lastrowid
    conn.execute("INSERT OR IGNORE INTO marks (lesson_id, student_id) SELECT ?, id FROM students "
                 "WHERE class_id = ? AND status = 'active'", (lesson_id, slot.class_id))
    return lesson_id


def window(start: datetime, before_min: int, after_min: int) -> tuple[datetime, datetime]:
    return start - timedelta(minutes=before_min), start + timedelta(minutes=after_min)


class LessonDesk:
    """What the camera's rules and the teacher's desk share: the school database, the rules, the time zone and
    the event writer for the outbox."""

    def __init__(self, conn: sqlite3.Connection, rules, school: str, key: bytes,
                 tz: ZoneInfo | str = "Asia/Ho_Chi_Minh", device_id: str | None = None):
        self.conn = conn
        self.rules = rules
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.events = EventWriter(conn, school, key, device_id)


class EventWriter:
    """Builds attendance payloads for a lesson and enqueues them in the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, school: str, key: bytes, device_id: str | None = None):
        self.conn = conn
        self.outbox = Outbox(conn, school, key)
        self.device_id = device_id

    def attendance(self, kind: EventKind, lesson: sqlite3.Row, student_id: str, status: str, source: Source,
                   observed_at: datetime, *, previous: str | None = None, reason: str | None = None,
                   confidence: float | None = None, track_id: str | None = None) -> str:
        payload = AttendancePayload(
            student_id=student_id, class_code=lesson["class_id"], date=date.fromisoformat(lesson["date"]),
            session=lesson["session"], period=lesson["period"], subject=lesson["subject"][:64],
            status=STATUS[status], previous_status=STATUS[previous] if previous else None,
            reason=reason or None, source=source, observed_at=observed_at,
            first_seen_at=observed_at if source.kind == "camera" else None,
            confidence=None if confidence is None else min(1.0, max(0.0, float(confidence))),
            track_id=track_id)
        event = self.outbox.enqueue(kind, payload)
        self.conn.execute("INSERT INTO lesson_events (lesson_id, event_id, kind) VALUES (?, ?, ?)",
                          (lesson["id"], str(event.event_id), kind.value))
        return str(event.event_id)

    def teacher(self, teacher_id: str) -> Source:
        return Source(kind="teacher", teacher_id=teacher_id[:64], device_id=self.device_id)
