"""School calendar (terms, holidays), bell schedule (45-minute periods, morning/afternoon) and the class timetable.

Imports read CSV/XLSX by header name and write in one transaction; any bad row refuses the whole file, with
every bad row listed, and leaves the database as it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from edge_agent.config import BellConfig
from edge_agent.store.school_db import transaction
from edge_agent.store.tabular import Row, TableError, fold, read_table

MAX_PERIODS_PER_DAY = 7
SESSIONS = ("morning", "afternoon")
SESSION_VI = {"morning": "Sáng", "afternoon": "Chiều"}

TIMETABLE_COLUMNS = {
    "class_id": ("Lớp", "Lop", "Class"),
    "weekday": ("Thứ", "Thu", "Weekday", "Ngày trong tuần"),
    "session": ("Buổi", "Buoi", "Session"),
    "period": ("Tiết", "Tiet", "Period"),
    "subject": ("Môn", "Môn học", "Subject"),
    "room": ("Phòng", "Phòng học", "Room"),
    "teacher_id": ("Mã GV", "Giáo viên", "Mã giáo viên", "Teacher"),
}
CALENDAR_COLUMNS = {
    "kind": ("Loại", "Kind", "Type"),
    "name": ("Tên", "Name", "Nội dung"),
    "start": ("Từ ngày", "Start", "Ngày bắt đầu"),
    "end": ("Đến ngày", "End", "Ngày kết thúc"),
}
_WEEKDAYS = {"2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "cn": 7, "hai": 1, "ba": 2, "tu": 3, "nam": 4,
             "sau": 5, "bay": 6, "chu nhat": 7, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
             "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 7}
_SESSIONS = {"sang": "morning", "s": "morning", "morning": "morning", "am": "morning",
             "chieu": "afternoon", "c": "afternoon", "afternoon": "afternoon", "pm": "afternoon"}
_TERM_KINDS = {"hoc ky", "hk", "term", "semester"}
_HOLIDAY_KINDS = {"nghi", "nghi le", "holiday", "ngay nghi"}


class ImportError_(ValueError):
    """The file was refused; `.problems` lists 'row N: reason' lines. Nothing was written."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s), nothing imported:\n  " + "\n  ".join(problems))


TimetableImportError = ImportError_


@dataclass(frozen=True)
class Period:
    session: str
    period: int
    start: time
    end: time

    @property
    def label(self) -> str:
        return f"Tiết {self.period} ({SESSION_VI[self.session].lower()})"


def bell_schedule(cfg: BellConfig) -> list[Period]:
    """The day's periods from the bell settings: fixed-length periods, short breaks and one long break per session."""
    periods = []
    for session, start, count in (("morning", cfg.morning_start, cfg.morning_periods),
                                  ("afternoon", cfg.afternoon_start, cfg.afternoon_periods)):
        t = datetime.combine(date(2000, 1, 1), start)
        for n in range(1, count + 1):
            end = t + timedelta(minutes=cfg.period_minutes)
            periods.append(Period(session, n, t.time(), end.time()))
            gap = cfg.long_break_minutes if n == cfg.long_break_after else cfg.break_minutes
            t = end + timedelta(minutes=gap)
    morning_end = max((p.end for p in periods if p.session == "morning"), default=time(0, 0))
    if any(p.session == "afternoon" and p.start < morning_end for p in periods):
        raise ValueError("bell schedule: the afternoon session starts before the morning one ends")
    return periods


def save_bells(conn: sqlite3.Connection, periods: list[Period]) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM bell_periods")
        conn.executemany("INSERT INTO bell_periods (session, period, start_time, end_time) VALUES (?, ?, ?, ?)",
                         [(p.session, p.period, p.start.strftime("%H:%M"), p.end.strftime("%H:%M")) for p in periods])


def load_bells(conn: sqlite3.Connection) -> list[Period]:
    rows = conn.execute("SELECT * FROM bell_periods ORDER BY session DESC, period").fetchall()
    return [Period(r["session"], r["period"], time.fromisoformat(r["start_time"]), time.fromisoformat(r["end_time"]))
            for r in rows]


# ---- timetable ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimetableReport:
    rows: int
    classes: list[str]
    classes_created: list[str]


def import_timetable(conn: sqlite3.Connection, path: str | Path, *, replace: bool = True) -> TimetableReport:
    """Import the timetable (one row per class, weekday, session and period); the whole file or nothing."""
    path = Path(path)
    try:
        rows = read_table(path, TIMETABLE_COLUMNS, required=set(TIMETABLE_COLUMNS) - {"teacher_id"})
    except TableError as exc:
        raise ImportError_(path, [str(exc).removeprefix(f"{path}: ")]) from exc
    bells = {(p.session, p.period) for p in load_bells(conn)}
    problems: list[str] = []
    entries: dict[tuple, tuple] = {}
    rooms: dict[tuple, str] = {}
    for row in rows:
        entry = _timetable_entry(row, bells, problems)
        if entry is None:
            continue
        class_id, weekday, session, period, subject, room, teacher = entry
        key = (class_id, weekday, session, period)
        if key in entries:
            problems.append(f"row {row.number}: class {class_id} already has {SESSION_VI[session].lower()} "
                            f"period {period} on weekday {weekday + 1} (duplicate row)")
            continue
        slot = (room, weekday, session, period)
        if slot in rooms:
            problems.append(f"row {row.number}: room {room} is already used by class {rooms[slot]} in that period")
            continue
        rooms[slot] = class_id
        entries[key] = entry
    per_day: dict[tuple[str, int], int] = {}
    for class_id, weekday, *_ in entries.values():
        per_day[(class_id, weekday)] = per_day.get((class_id, weekday), 0) + 1
    for (class_id, weekday), count in sorted(per_day.items()):
        if count > MAX_PERIODS_PER_DAY:
            problems.append(f"class {class_id}: {count} periods on weekday {weekday + 1} "
                            f"(at most {MAX_PERIODS_PER_DAY} a day)")
    if not entries and not problems:
        problems.append("no timetable rows found")
    if problems:
        raise ImportError_(path, problems)
    classes = sorted({e[0] for e in entries.values()})
    known = {r[0] for r in conn.execute("SELECT id FROM classes")}
    created = [c for c in classes if c not in known]
    with transaction(conn):
        conn.executemany("INSERT INTO classes (id, name) VALUES (?, ?)", [(c, c) for c in created])
        if replace:
            conn.execute("DELETE FROM timetable")
        conn.executemany("INSERT OR REPLACE INTO timetable (class_id, weekday, session, period, subject, room, "
                         "teacher_id) VALUES (?, ?, ?, ?, ?, ?, ?)", list(entries.values()))
    return TimetableReport(len(entries), classes, created)


def _timetable_entry(row: Row, bells: set[tuple[str, int]], problems: list[str]) -> tuple | None:
    v = row.values
    errs = []
    class_id = v["class_id"].upper().replace(" ", "")
    if not class_id:
        errs.append("empty class")
    weekday = parse_weekday(v["weekday"])
    if weekday is None:
        errs.append(f"weekday {v['weekday']!r} not understood (use 2..7 or CN)")
    session = _SESSIONS.get(fold(v["session"]))
    if session is None:
        errs.append(f"session {v['session']!r} not understood (use Sáng or Chiều)")
    try:
        period = int(v["period"])
        if not 1 <= period <= MAX_PERIODS_PER_DAY:
            raise ValueError
    except ValueError:
        period = None
        errs.append(f"period {v['period']!r} must be a number from 1 to {MAX_PERIODS_PER_DAY}")
    if session and period and bells and (session, period) not in bells:
        errs.append(f"the bell schedule has no {SESSION_VI[session].lower()} period {period}")
    if not v["subject"]:
        errs.append("empty subject")
    if not v["room"]:
        errs.append("empty room")
    if errs:
        problems.append(f"row {row.number}: " + "; ".join(errs))
        return None
    return (class_id, weekday, session, period, v["subject"], v["room"].strip(), v.get("teacher_id") or None)


def parse_weekday(text: str) -> int | None:
    key = fold(text).removeprefix("thu ").strip()
    return _WEEKDAYS.get(key)


@dataclass(frozen=True)
class Scheduled:
    class_id: str
    session: str
    period: int
    subject: str
    room: str
    teacher_id: str | None
    start: time
    end: time


def scheduled_on(conn: sqlite3.Connection, day: date, *, room: str | None = None) -> list[Scheduled]:
    """The periods scheduled on a school day (none on holidays or outside the terms), optionally for one room."""
    if not is_school_day(conn, day):
        return []
    sql = ("SELECT t.*, b.start_time, b.end_time FROM timetable t JOIN bell_periods b "
           "ON b.session = t.session AND b.period = t.period WHERE t.weekday = ?")
    args: list = [day.isoweekday()]
    if room is not None:
        sql += " AND t.room = ?"
        args.append(room)
    rows = conn.execute(sql + " ORDER BY b.start_time, t.class_id", args).fetchall()
    return [Scheduled(r["class_id"], r["session"], r["period"], r["subject"], r["room"], r["teacher_id"],
                      time.fromisoformat(r["start_time"]), time.fromisoformat(r["end_time"])) for r in rows]


# ---- calendar ----------------------------------------------------------------------------------------------------
def is_school_day(conn: sqlite3.Connection, day: date) -> bool:
    """Inside a term and not a holiday; with no terms loaded every day counts (the timetable decides)."""
    iso = day.isoformat()
    if conn.execute("SELECT 1 FROM holidays WHERE date = ?", (iso,)).fetchone():
        return False
    has_terms = conn.execute("SELECT 1 FROM terms LIMIT 1").fetchone()
    if not has_terms:
        return True
    found = conn.execute("SELECT 1 FROM terms WHERE start_date <= ? AND end_date >= ?", (iso, iso)).fetchone()
    return found is not None


def parse_date(text: str) -> date:
    text = text.strip().split("T")[0].split(" ")[0]
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {text!r} not understood (use dd/mm/yyyy)")


@dataclass(frozen=True)
class CalendarReport:
    terms: int
    holidays: int


def import_calendar(conn: sqlite3.Connection, path: str | Path) -> CalendarReport:
    """Replace the terms and holidays with those of the file (rows: Loại = Học kỳ | Nghỉ, Tên, Từ ngày, Đến ngày)."""
    path = Path(path)
    try:
        rows = read_table(path, CALENDAR_COLUMNS, required={"kind", "name", "start"})
    except TableError as exc:
        raise ImportError_(path, [str(exc).removeprefix(f"{path}: ")]) from exc
    problems, terms, holidays = [], [], {}
    for row in rows:
        v = row.values
        kind = fold(v["kind"])
        try:
            start = parse_date(v["start"])
            end = parse_date(v["end"]) if v.get("end") else start
        except ValueError as exc:
            problems.append(f"row {row.number}: {exc}")
            continue
        if end < start:
            problems.append(f"row {row.number}: end date {end:%d/%m/%Y} is before start date {start:%d/%m/%Y}")
        elif not v["name"]:
            problems.append(f"row {row.number}: empty name")
        elif kind in _TERM_KINDS:
            terms.append((v["name"], start.isoformat(), end.isoformat()))
        elif kind in _HOLIDAY_KINDS:
            d = start
            while d <= end:
                holidays[d.isoformat()] = v["name"]
                d += timedelta(days=1)
        else:
            problems.append(f"row {row.number}: kind {v['kind']!r} not understood (use Học kỳ or Nghỉ)")
    if not terms and not problems:
        problems.append("no term (Học kỳ) rows found")
    if problems:
        raise ImportError_(path, problems)
    with transaction(conn):
        conn.execute("DELETE FROM terms")
        conn.execute("DELETE FROM holidays")
        conn.executemany("INSERT INTO terms (name, start_date, end_date) VALUES (?, ?, ?)", terms)
        conn.executemany("INSERT INTO holidays (date, name) VALUES (?, ?)", sorted(holidays.items()))
    return CalendarReport(len(terms), len(holidays))
