"""A small real school for the attendance, kiosk and service tests: SQLite file, classes, students, a teacher with
a PIN, the default bell schedule and a timetable imported from a Vietnamese CSV (Monday 8 Sept 2025)."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent.attendance.timetable import bell_schedule, import_timetable, save_bells
from edge_agent.config import AttendanceRules, BellConfig
from edge_agent.store import school_db

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2025, 9, 8)
SCHOOL = "THPT-LDT"
KEY = os.urandom(32)
RULES = AttendanceRules(checkin_before_min=10, checkin_after_min=15, late_grace_min=5,
                        flag_unfinalised_after_min=5, review_crop_days=7)
STUDENTS = {  # id -> (name, class)
    "094208000101": ("Lâm Thị Bích", "10A1"),
    "094208000102": ("Trần Văn Cường", "10A1"),
    "094208000103": ("Nguyễn Thị Duyên", "10A1"),
    "094208000201": ("Thạch Sô Phia", "10A2"),
}
TEACHER = ("GV001", "Nguyễn Văn An", "246810")          # teaches 10A1 (Toán, Tin học)
TEACHER2 = ("GV003", "Trần Thị Bình", "975310")        # teaches 10A2 (Tiếng Anh)
TIMETABLE_CSV = """Thứ,Buổi,Tiết,Lớp,Môn học,Phòng,Mã GV
2,Sáng,1,10A1,Toán,A101,GV001
2,Sáng,2,10A1,Ngữ văn,A101,GV002
2,Sáng,1,10A2,Tiếng Anh,A102,GV003
2,Chiều,1,10A1,Tin học,LAB1,GV001
"""


def at(hh: int, mm: int, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


def make_school(tmp: Path) -> Path:
    """Create the school database under `tmp` and return its path."""
    from edge_agent.kiosk.pins import hash_pin

    db = tmp / "school.sqlite3"
    conn = school_db.connect(db)
    now = school_db.now_iso()
    with school_db.transaction(conn):
        for cls in ("10A1", "10A2"):
            conn.execute("INSERT INTO classes (id, name, grade, school_year) VALUES (?, ?, 10, '2025-2026')",
                         (cls, cls))
        for sid, (name, cls) in STUDENTS.items():
            conn.execute("INSERT INTO students (id, full_name, class_id, status, created_at, updated_at) "
                         "VALUES (?, ?, ?, 'active', ?, ?)", (sid, name, cls, now, now))
        for code, name, pin in (TEACHER, TEACHER2):
            conn.execute("INSERT INTO teachers (id, full_name, pin_hash) VALUES (?, ?, ?)",
                         (code, name, hash_pin(pin)))
    save_bells(conn, bell_schedule(BellConfig()))
    csv = tmp / "tkb.csv"
    csv.write_text(TIMETABLE_CSV, encoding="utf-8")
    import_timetable(conn, csv)
    school_db.close(conn)
    return db
