"""What the teacher does with the proposals: correct a mark, resolve a review item, finalise (chốt) the period.

Nothing is final until the teacher finalises, and a student the camera did not see is never finalised absent by
the system: the teacher must choose P (có phép) or K (không phép) for each one first. Every change writes its
event in the same transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from edge_agent.attendance.lessons import (
    AttendanceError,
    Lesson,
    LessonDesk,
    NotYourLesson,
    bells_map,
    ensure_lesson,
    lesson_from_row,
)
from edge_agent.attendance.timetable import scheduled_on
from edge_agent.config import AttendanceRules
from edge_agent.protocol import EventKind
from edge_agent.store.school_db import audit, transaction

MARKS = ("present", "late", "P", "K")
SyncState = Literal["not_finalised", "waiting", "synced"]


@dataclass(frozen=True)
class StudentRow:
    student_id: str
    full_name: str
    proposal: str | None
    mark: str | None
    final: str | None
    note: str | None
    seen_at: datetime | None = None      # the camera's best sighting of the student in this lesson
    seen_score: float | None = None
    has_crop: bool = False

    @property
    def effective(self) -> str | None:
        """What the lesson says now: the final mark, else the teacher's, else the camera's proposal."""
        return self.final or self.mark or self.proposal


@dataclass(frozen=True)
class ReviewItem:
    id: int
    at: datetime
    camera: str
    decision: str
    candidate_id: str | None
    candidate_name: str | None
    score: float | None
    has_crop: bool
    reason: str | None = None
    suspected_attack: bool = False


@dataclass(frozen=True)
class Summary:
    """What finalising will record: counts per final status and the students still without a decision."""

    counts: dict[str, int]
    undecided: list[str]

    @property
    def text(self) -> str:
        """e.g. "35 có mặt, 2 vắng có phép, 1 vắng không phép" (zero counts left out, except "có mặt")."""
        c = self.counts
        parts = [f"{c.get('present', 0)} có mặt"]
        for key, label in (("late", "đi muộn"), ("P", "vắng có phép"), ("K", "vắng không phép")):
            if c.get(key):
                parts.append(f"{c[key]} {label}")
        return ", ".join(parts)


class TeacherDesk(LessonDesk):
    rules: AttendanceRules

    # ---- reading -----------------------------------------------------------------------------------------------
    def lesson(self, lesson_id: int) -> Lesson:
        row = self.conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
        if row is None:
            raise AttendanceError(f"Không tìm thấy tiết học số {lesson_id}.")
        return lesson_from_row(row, bells_map(self.conn), self.tz)

    def lessons_around(self, now: datetime, room: str | None = None, hours: int = 12) -> list[Lesson]:
        """Today's lessons that have started or start within the hour, plus older ones not yet finalised."""
        local = now.astimezone(self.tz)
        bells = bells_map(self.conn)
        rows = self.conn.execute("SELECT * FROM lessons WHERE (date = ? OR state != 'finalised') AND date >= ? "
                                 + ("AND room = ? " if room else "") + "ORDER BY date DESC, session, period DESC",
                                 (local.date().isoformat(), (local.date() - timedelta(days=7)).isoformat())
                                 + ((room,) if room else ())).fetchall()
        lessons = [lesson_from_row(r, bells, self.tz) for r in rows]
        return [x for x in lessons if x.start <= local + timedelta(hours=1)
                and (x.state != "finalised" or x.end >= local - timedelta(hours=hours))]

    def students(self, lesson_id: int) -> list[StudentRow]:
        rows = self.conn.execute(
            "SELECT m.*, s.full_name, g.at AS seen_at, g.score AS seen_score, g.crop IS NOT NULL AS has_crop "
            "FROM marks m JOIN students s ON s.id = m.student_id "
            "LEFT JOIN sightings g ON g.id = (SELECT id FROM sightings WHERE lesson_id = m.lesson_id "
            "  AND student_id = m.student_id AND kind = 'in_class' ORDER BY crop IS NULL, score DESC LIMIT 1) "
            "WHERE m.lesson_id = ? ORDER BY s.full_name COLLATE NOCASE, s.id", (lesson_id,)).fetchall()
        return [StudentRow(r["student_id"], r["full_name"], r["proposal"], r["mark"], r["final"], r["note"],
                           datetime.fromisoformat(r["seen_at"]) if r["seen_at"] else None, r["seen_score"],
                           bool(r["has_crop"])) for r in rows]

    def sighting_crop(self, lesson_id: int, student_id: str) -> bytes | None:
        """The best face crop of the student's sightings in this lesson (kept for the day only)."""
        row = self.conn.execute("SELECT crop FROM sightings WHERE lesson_id = ? AND student_id = ? AND kind = "
                                "'in_class' AND crop IS NOT NULL ORDER BY score DESC LIMIT 1",
                                (lesson_id, student_id)).fetchone()
        return None if row is None else row["crop"]

    def owned(self, lesson_id: int, teacher_id: str) -> Lesson:
        """The lesson, if `teacher_id` teaches it (or substitutes); NotYourLesson otherwise."""
        lesson = self.lesson(lesson_id)
        if not lesson.taught_by(teacher_id):
            raise NotYourLesson(f"Tiết học số {lesson_id} không phải của thầy/cô; chỉ giáo viên dạy tiết này "
                                "(hoặc giáo viên dạy thay được ghi nhận) mới xem và sửa được.")
        return lesson

    def summary(self, lesson_id: int) -> Summary:
        rows = self.conn.execute("SELECT m.*, s.full_name FROM marks m JOIN students s ON s.id = m.student_id "
                                 "WHERE m.lesson_id = ? ORDER BY s.full_name", (lesson_id,)).fetchall()
        counts: dict[str, int] = {}
        undecided = []
        for r in rows:
            value = r["final"] or r["mark"] or (r["proposal"] if r["proposal"] in ("present", "late") else None)
            if value is None:
                undecided.append(r["full_name"])
            else:
                counts[value] = counts.get(value, 0) + 1
        return Summary(counts, undecided)

    def reviews(self, lesson_id: int | None = None) -> list[ReviewItem]:
        sql = ("SELECT q.*, s.full_name FROM review_queue q LEFT JOIN students s ON s.id = q.candidate_id "
               "WHERE q.state = 'pending'")
        args: tuple = ()
        if lesson_id is not None:
            sql += " AND q.lesson_id = ?"
            args = (lesson_id,)
        # suspected attacks first, then the review band (a candidate), then unknown faces; oldest first in each
        rows = self.conn.execute(sql + " ORDER BY q.suspected_attack DESC, q.decision = 'review' DESC, q.at",
                                 args).fetchall()
        return [ReviewItem(r["id"], datetime.fromisoformat(r["at"]), r["camera"], r["decision"], r["candidate_id"],
                           r["full_name"], r["score"], r["crop"] is not None, r["reason"],
                           bool(r["suspected_attack"])) for r in rows]

    def review_crop(self, review_id: int, teacher_id: str) -> bytes | None:
        """The review item's face crop, for the teacher of its lesson only (NotYourLesson otherwise)."""
        row = self.conn.execute("SELECT crop, lesson_id FROM review_queue WHERE id = ?", (review_id,)).fetchone()
        if row is None:
            return None
        if row["lesson_id"] is None:
            raise NotYourLesson("Mục xem xét này không thuộc tiết học nào của thầy/cô.")
        self.owned(row["lesson_id"], teacher_id)
        return row["crop"]

    def sync_state(self, lesson_id: int) -> SyncState:
        """`synced` when every finalisation event of the lesson has been acknowledged by the broker."""
        lesson = self.conn.execute("SELECT state FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
        if lesson is None or lesson["state"] != "finalised":
            return "not_finalised"
        waiting = self.conn.execute(
            "SELECT count(*) FROM lesson_events e JOIN outbox o ON o.event_id = e.event_id "
            "WHERE e.lesson_id = ? AND o.sent_at IS NULL", (lesson_id,)).fetchone()[0]
        return "waiting" if waiting else "synced"

    # ---- actions -----------------------------------------------------------------------------------------------
    def correct(self, lesson_id: int, student_id: str, mark: str, teacher_id: str, note: str | None = None,
                now: datetime | None = None) -> bool:
        """Set the teacher's mark (present / late / P / K); returns False when nothing changed."""
        if mark not in MARKS:
            raise AttendanceError(f"Trạng thái không hợp lệ: {mark!r}.")
        note = (note or "").strip()[:500] or None
        now = now or datetime.now(UTC)
        with transaction(self.conn):
            lesson = self._open_lesson(lesson_id, teacher_id)
            row = self.conn.execute("SELECT * FROM marks WHERE lesson_id = ? AND student_id = ?",
                                    (lesson_id, student_id)).fetchone()
            if row is None:
                raise AttendanceError("Học sinh này không thuộc lớp của tiết học.")
            previous = row["mark"] or row["proposal"]
            if row["mark"] == mark and (note is None or note == row["note"]):
                return False
            self.conn.execute("UPDATE marks SET mark = ?, note = coalesce(?, note), marked_by = ?, marked_at = ? "
                              "WHERE lesson_id = ? AND student_id = ?",
                              (mark, note, teacher_id, now.isoformat(), lesson_id, student_id))
            self.events.attendance(EventKind.ATTENDANCE_CORRECTED, lesson, student_id, mark,
                                   self.events.teacher(teacher_id), now, previous=previous, reason=note)
        return True

    def resolve_review(self, review_id: int, teacher_id: str, student_id: str | None,
                       now: datetime | None = None) -> str:
        """Confirm "this is <student_id>" or, with None, "not a student" (the crop is deleted at once)."""
        now = now or datetime.now(UTC)
        with transaction(self.conn):
            item = self.conn.execute("SELECT * FROM review_queue WHERE id = ?", (review_id,)).fetchone()
            if item is None or item["state"] != "pending":
                raise AttendanceError("Mục xem xét này đã được xử lý hoặc không tồn tại.")
            if item["lesson_id"] is None:
                raise NotYourLesson("Mục xem xét này không thuộc tiết học nào của thầy/cô.")
            self.owned(item["lesson_id"], teacher_id)
            if student_id is None:
                self.conn.execute("UPDATE review_queue SET state = 'rejected', crop = NULL, resolved_by = ?, "
                                  "resolved_at = ? WHERE id = ?", (teacher_id, now.isoformat(), review_id))
                audit(self.conn, teacher_id, "review.rejected", f"review:{review_id}")
                return "rejected"
            student = self.conn.execute("SELECT class_id FROM students WHERE id = ?", (student_id,)).fetchone()
            if student is None:
                raise AttendanceError(f"Không có học sinh mã {student_id}.")
            self.conn.execute("UPDATE review_queue SET state = 'confirmed', resolved_student_id = ?, resolved_by = ?,"
                              " resolved_at = ? WHERE id = ?", (student_id, teacher_id, now.isoformat(), review_id))
            audit(self.conn, teacher_id, "review.confirmed", f"review:{review_id}", student_id)
            lesson_row = self.conn.execute("SELECT * FROM lessons WHERE id = ?", (item["lesson_id"],)).fetchone()
            if lesson_row is None or lesson_row["state"] == "finalised" \
                    or student["class_id"] != lesson_row["class_id"]:
                return "confirmed"
            lesson = lesson_from_row(lesson_row, bells_map(self.conn), self.tz)
            seen = datetime.fromisoformat(item["at"])
            status = "late" if seen > lesson.start + timedelta(minutes=self.rules.late_grace_min) else "present"
            mark = self.conn.execute("SELECT * FROM marks WHERE lesson_id = ? AND student_id = ?",
                                     (lesson.id, student_id)).fetchone()
            if mark is not None and mark["mark"] is None:
                self.conn.execute("UPDATE marks SET mark = ?, marked_by = ?, marked_at = ? WHERE lesson_id = ? "
                                  "AND student_id = ?", (status, teacher_id, now.isoformat(), lesson.id, student_id))
                self.events.attendance(EventKind.ATTENDANCE_CORRECTED, lesson_row, student_id, status,
                                       self.events.teacher(teacher_id), now, previous=mark["proposal"],
                                       reason="Giáo viên xác nhận từ hàng đợi xem xét")
            return "confirmed"

    def finalise(self, lesson_id: int, teacher_id: str, now: datetime | None = None) -> int:
        """Make the marks final; refused while a student has no decision (unseen: the teacher picks P or K)."""
        now = now or datetime.now(UTC)
        with transaction(self.conn):
            lesson = self._open_lesson(lesson_id, teacher_id)
            rows = self.conn.execute("SELECT m.*, s.full_name FROM marks m JOIN students s ON s.id = m.student_id "
                                     "WHERE m.lesson_id = ? ORDER BY s.full_name", (lesson_id,)).fetchall()
            undecided = [r["full_name"] for r in rows
                         if r["mark"] is None and r["proposal"] not in ("present", "late")]
            if undecided:
                raise AttendanceError("Chưa thể chốt: hãy chọn P (có phép) hoặc K (không phép) cho "
                                      f"{len(undecided)} học sinh: " + ", ".join(undecided))
            for r in rows:
                final = r["mark"] or r["proposal"]
                self.conn.execute("UPDATE marks SET final = ? WHERE lesson_id = ? AND student_id = ?",
                                  (final, lesson_id, r["student_id"]))
                event_id = self.events.attendance(EventKind.ATTENDANCE_FINALISED, lesson, r["student_id"], final,
                                                  self.events.teacher(teacher_id), now, reason=r["note"])
            self.conn.execute("UPDATE lessons SET state = 'finalised', finalised_at = ?, finalised_by = ?, "
                              "final_event_id = ? WHERE id = ?",
                              (now.isoformat(), teacher_id, event_id if rows else None, lesson_id))
            audit(self.conn, teacher_id, "lesson.finalised", f"lesson:{lesson_id}", f"{len(rows)} students")
        return len(rows)

    def reopen(self, lesson_id: int, teacher_id: str, now: datetime | None = None) -> None:
        """Undo a finalisation: only the teacher who finalised, within `rules.reopen_window_min` of it. The marks
        stay as they were (the teacher's decisions are kept); finalising again re-sends every student's final
        status as new `attendance.finalised` events, which supersede the earlier ones centrally. Audited."""
        now = now or datetime.now(UTC)
        with transaction(self.conn):
            row = self.conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
            if row is None:
                raise AttendanceError(f"Không tìm thấy tiết học số {lesson_id}.")
            lesson = self.owned(lesson_id, teacher_id)
            if lesson.state != "finalised":
                raise AttendanceError("Tiết học chưa được chốt.")
            if lesson.finalised_by != teacher_id:
                raise NotYourLesson("Chỉ giáo viên đã chốt tiết học mới mở lại được.")
            if lesson.finalised_at is None or now > lesson.finalised_at + timedelta(
                    minutes=self.rules.reopen_window_min):
                raise AttendanceError(f"Đã quá {self.rules.reopen_window_min} phút kể từ khi chốt; muốn sửa cần "
                                      "quản trị viên của trường.")
            self.conn.execute("UPDATE marks SET final = NULL WHERE lesson_id = ?", (lesson_id,))
            self.conn.execute("UPDATE lessons SET state = 'proposed', finalised_at = NULL, finalised_by = NULL, "
                              "final_event_id = NULL, reopened_at = ?, reopened_by = ? WHERE id = ?",
                              (now.isoformat(), teacher_id, lesson_id))
            audit(self.conn, teacher_id, "lesson.reopened", f"lesson:{lesson_id}",
                  f"finalised at {lesson.finalised_at.isoformat()}")

    def substitute_on(self, day: date, session: str, period: int, class_id: str, teacher_id: str | None,
                      actor: str) -> int:
        """Record the substitute of a scheduled lesson (today or later: the lesson row is created now); returns
        the lesson id. Refused when the timetable has no such lesson on that day."""
        slot = next((x for x in scheduled_on(self.conn, day) if (x.session, x.period, x.class_id)
                     == (session, period, class_id)), None)
        if slot is None:
            raise AttendanceError(f"Thời khoá biểu không có tiết {period} buổi "
                                  f"{'sáng' if session == 'morning' else 'chiều'} của lớp {class_id} ngày "
                                  f"{day:%d/%m/%Y}.")
        with transaction(self.conn):
            lesson_id = ensure_lesson(self.conn, day, slot)
        self.assign_substitute(lesson_id, teacher_id, actor)
        return lesson_id

    def assign_substitute(self, lesson_id: int, teacher_id: str | None, actor: str) -> None:
        """Record (or clear, with None) the substitute teacher of one lesson; audited."""
        with transaction(self.conn):
            if teacher_id is not None and not self.conn.execute(
                    "SELECT 1 FROM teachers WHERE id = ? AND active = 1", (teacher_id,)).fetchone():
                raise AttendanceError(f"Không có giáo viên mã {teacher_id}.")
            if self.conn.execute("UPDATE lessons SET substitute_teacher_id = ? WHERE id = ?",
                                 (teacher_id, lesson_id)).rowcount != 1:
                raise AttendanceError(f"Không tìm thấy tiết học số {lesson_id}.")
            audit(self.conn, actor, "lesson.substitute", f"lesson:{lesson_id}", teacher_id or "(none)")

    def _open_lesson(self, lesson_id: int, teacher_id: str) -> sqlite3.Row:
        lesson = self.conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,)).fetchone()
        if lesson is None:
            raise AttendanceError(f"Không tìm thấy tiết học số {lesson_id}.")
        self.owned(lesson_id, teacher_id)
        if lesson["state"] == "finalised":
            raise AttendanceError("Tiết học đã được chốt; giáo viên đã chốt có thể mở lại trong "
                                  f"{self.rules.reopen_window_min} phút, sau đó cần quản trị viên của trường.")
        return lesson
