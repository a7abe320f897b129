"""The absence engine: per-period marks → half-day sessions (buổi) → totals, warning levels, the 45-buổi flag.

Rules (Circular 22/2021 Art. 12(1)(c); docs/domain-rules-vn.md T-1):
- only teacher-confirmed absences count: P (có phép) and K (không phép); a camera's `absent_proposed` is
  never an absence by itself (T-3);
- a session is absent when the student missed at least `session_absent_fraction` of its marked periods
  (default: all of them), or when a whole-session mark (period 0) says P/K; it is K if any missed period is K;
- totals count P and K together; a warning at each configured level (30, 40 buổi); over the limit (45) the
  student is flagged "not eligible for promotion".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

ABSENT = ("P", "K")
ATTENDED = ("present", "late", "left_early")
SESSION_STATUSES = ("present", "partial", "P", "K", "unconfirmed")


def session_of(period: int | None, session: str | None, periods_per_session: int) -> tuple[str, int]:
    """(session, period) of a mark: the event's session if given, else derived from the period number."""
    if session is not None:
        return session, period or 0
    if period is None:
        return "day", 0  # a whole-day mark on the 1-session-per-day plan: one buổi
    return ("morning" if period <= periods_per_session else "afternoon"), period


def derive_session(marks: Iterable[tuple[int, str, bool]], absent_fraction: float = 1.0) -> tuple[str, bool]:
    """(status, finalised) of one student's session from its marks (period, status, finalised)."""
    marks = list(marks)
    finalised = bool(marks) and all(f for _, _, f in marks)
    whole = [s for p, s, _ in marks if p == 0]
    periods = [s for p, s, _ in marks if p != 0]
    if whole and whole[-1] in ABSENT:
        return whole[-1], finalised
    if not periods:
        if whole and whole[-1] in ATTENDED:
            return "present", finalised
        return "unconfirmed", finalised
    missed = [s for s in periods if s in ABSENT]
    if missed and len(missed) / len(periods) >= absent_fraction - 1e-9:
        return ("K" if "K" in missed else "P"), finalised
    attended = [s for s in periods if s in ATTENDED]
    if attended and len(attended) == len(periods):
        return "present", finalised
    if attended or missed:
        return "partial", finalised
    return "unconfirmed", finalised


@dataclass(frozen=True)
class Totals:
    excused: int    # P buổi
    unexcused: int  # K buổi

    @property
    def total(self) -> int:
        return self.excused + self.unexcused


def warning_level(total: int, levels: list[int]) -> int | None:
    """The highest configured level reached (e.g. 30 or 40), or None."""
    reached = [lv for lv in sorted(levels) if total >= lv]
    return reached[-1] if reached else None


def not_eligible(total: int, limit: int = 45) -> bool:
    """Over `limit` buổi in the school year ⇒ not eligible for promotion (P and K both count)."""
    return total > limit


@dataclass(frozen=True)
class Term:
    name: str  # "HK1", "HK2", "CN" (cả năm)
    start: dt.date
    end: dt.date


def terms_of(year_name: str, starts_on: dt.date, term2_starts_on: dt.date, ends_on: dt.date) -> list[Term]:
    return [Term("HK1", starts_on, term2_starts_on - dt.timedelta(days=1)),
            Term("HK2", term2_starts_on, ends_on), Term("CN", starts_on, ends_on)]
