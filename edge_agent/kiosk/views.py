"""Read helpers and Vietnamese labels for the kiosk pages."""

from __future__ import annotations

import sqlite3

LABEL = {"present": "Có mặt", "late": "Đi muộn", "absent": "Vắng (đề xuất)", "P": "Vắng có phép (P)",
         "K": "Vắng không phép (K)", None: "Chưa rõ"}
CHIP = {"present": "ok", "late": "warn", "absent": "absent", "P": "excused", "K": "bad", None: "none"}
SESSION_VI = {"morning": "sáng", "afternoon": "chiều"}


def teacher_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Teacher code -> name, for showing names (never codes) on pages a signed-in teacher sees."""
    return {r[0]: r[1] for r in conn.execute("SELECT id, full_name FROM teachers")}


def teaches_student(conn: sqlite3.Connection, teacher_id: str, student_id: str) -> bool:
    """Whether the student is in a class this teacher teaches (timetable) or has taught or substituted (lessons)."""
    return conn.execute(
        "SELECT 1 FROM students WHERE id = ? AND class_id IN (SELECT class_id FROM timetable WHERE teacher_id = ? "
        "UNION SELECT class_id FROM lessons WHERE teacher_id = ? OR substitute_teacher_id = ?)",
        (student_id, teacher_id, teacher_id, teacher_id)).fetchone() is not None


def roster(conn: sqlite3.Connection, class_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT id, full_name, class_id FROM students WHERE status = 'active' "
                        "ORDER BY class_id != ?, full_name", (class_id,)).fetchall()


def counts(conn: sqlite3.Connection, lesson_id: int) -> dict[str, int]:
    rows = conn.execute("SELECT coalesce(final, mark, proposal) AS s, count(*) FROM marks WHERE lesson_id = ? "
                        "GROUP BY s", (lesson_id,)).fetchall()
    out = {str(r[0]): r[1] for r in rows}
    out["review"] = conn.execute("SELECT count(*) FROM review_queue WHERE lesson_id = ? AND state = 'pending'",
                                 (lesson_id,)).fetchone()[0]
    return out


def thumbnail_ids(conn: sqlite3.Connection) -> set[str]:
    """Students with an enrolment thumbnail (migration m0003; filled by `enroll photos --keep-thumbnails`)."""
    return {r[0] for r in conn.execute("SELECT student_id FROM student_thumbnails")}


def thumbnail(conn: sqlite3.Connection, student_id: str) -> bytes | None:
    row = conn.execute("SELECT jpeg FROM student_thumbnails WHERE student_id = ?", (student_id,)).fetchone()
    return None if row is None else row[0]
