"""A student's school year as a month-by-month calendar: one coloured mark per session (buổi), built server-side."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

SESSION_ORDER = {"morning": 0, "afternoon": 1, "day": 2}
SESSION_SHORT = {"morning": "S", "afternoon": "C", "day": "N"}
# derived session status -> (CSS class, Vietnamese label, letter shown in the cell)
STATUS_STYLE = {
    "present": ("ok", "Có mặt", "✓"),
    "partial": ("partial", "Có mặt một phần", "½"),
    "P": ("p", "Vắng có phép", "P"),
    "K": ("k", "Vắng không phép", "K"),
    "unconfirmed": ("pending", "Chưa xác nhận", "?"),
}
WEEKDAYS = ["T2", "T3", "T4", "T5", "T6", "T7", "CN"]


@dataclass
class CalSession:
    session: str
    css: str
    label: str
    letter: str
    finalised: bool


@dataclass
class CalDay:
    day: dt.date | None                      # None: padding before the 1st / after the last day of the month
    in_year: bool = False
    today: bool = False
    sessions: list[CalSession] = field(default_factory=list)

    @property
    def slots(self) -> list[CalSession | None]:
        """[morning, afternoon]: the cell's two fixed places (a whole-day session fills both)."""
        out: list[CalSession | None] = [None, None]
        for s in self.sessions:
            if s.session == "day":
                out = [s, s]
            elif s.session in ("morning", "afternoon"):
                out[SESSION_ORDER[s.session]] = s
        return out


@dataclass
class CalMonth:
    year: int
    month: int
    weeks: list[list[CalDay]]

    @property
    def title(self) -> str:
        return f"Tháng {self.month}/{self.year}"


def _months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def year_calendar(rows: Iterable, start: dt.date, end: dt.date, today: dt.date) -> list[CalMonth]:
    """`rows`: objects with day, session, status, finalised (AttendanceSession). Months from `start` to `end`."""
    by_day: dict[dt.date, list[CalSession]] = {}
    for r in rows:
        css, label, letter = STATUS_STYLE.get(r.status, ("other", r.status, "·"))
        by_day.setdefault(r.day, []).append(CalSession(r.session, css, label, letter, bool(r.finalised)))
    for sessions in by_day.values():
        sessions.sort(key=lambda s: SESSION_ORDER.get(s.session, 9))
    months = []
    cal = calendar.Calendar(firstweekday=0)  # Monday first, as Vietnamese calendars are
    for y, m in _months(start, end):
        weeks = []
        for week in cal.monthdatescalendar(y, m):
            weeks.append([CalDay(d, start <= d <= end, d == today, by_day.get(d, [])) if d.month == m
                          else CalDay(None) for d in week])
        months.append(CalMonth(y, m, weeks))
    return months
