"""Publication-day results lookup: an in-process copy of the precomputed lookup rows, refreshed when a
publication changes, and per-client rate limits. One lookup is a dict access and one HMAC; the database
is read only when the published data changes (checked at most every `cache_refresh_seconds`).

Every failure (unknown number, wrong id, wrong date of birth) gives the same answer, after the same work.
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
import time
from collections import deque

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from .config import AdmissionsSettings
from .service import pid_hash
from .tables import AdmLookup

NOT_FOUND = ("Không tìm thấy kết quả với thông tin đã nhập. "
             "Vui lòng kiểm tra lại số báo danh và số định danh / ngày sinh.")
LIMITED = "Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau ít phút."
_DUMMY = ("0" * 64, dt.date(1900, 1, 1), {})


class ResultsCache:
    def __init__(self, settings: AdmissionsSettings, sm: sessionmaker[Session]):
        self.settings, self.sm = settings, sm
        self._rows: dict[str, tuple[str, dt.date, dict]] = {}
        self._stamp: tuple | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.settings.cache_refresh_seconds and self._stamp is not None:
            return
        with self._lock:
            if now - self._checked < self.settings.cache_refresh_seconds and self._stamp is not None:
                return
            with self.sm() as s:
                year = s.scalar(select(func.max(AdmLookup.year)))
                stamp = s.execute(select(func.count(AdmLookup.id), func.max(AdmLookup.published_at))
                                  .where(AdmLookup.year == year)).one() if year else (0, None)
                stamp = (year, *stamp)
                if stamp != self._stamp:
                    rows = s.execute(select(AdmLookup.candidate_no, AdmLookup.pid_hash, AdmLookup.dob,
                                            AdmLookup.payload).where(AdmLookup.year == year)).all() if year else []
                    self._rows = {r[0]: (r[1], r[2], r[3]) for r in rows}
                    self._stamp = stamp
            self._checked = now

    def invalidate(self) -> None:
        """Re-read on the next lookup (this process; other workers follow within `cache_refresh_seconds`)."""
        self._checked = 0.0
        self._stamp = None

    def published(self) -> bool:
        self._refresh()
        return bool(self._rows)

    def find(self, candidate_no: str, personal_id: str = "", dob: dt.date | None = None) -> dict | None:
        """The candidate's payload when the number matches AND the personal id (or date of birth) matches."""
        self._refresh()
        row = self._rows.get(candidate_no.strip())
        known = row is not None
        h, d, payload = row if known else _DUMMY
        given = pid_hash(self.settings, personal_id.strip()) if personal_id else "x" * 64
        ok_pid = hmac.compare_digest(h, given)
        ok_dob = dob is not None and dob == d
        return payload if known and (ok_pid or ok_dob) else None


class RateLimiter:
    """Sliding-window limits per client key: all lookups per minute, failed lookups per hour."""

    def __init__(self, per_minute: int, failures_per_hour: int):
        self.per_minute, self.failures_per_hour = per_minute, failures_per_hour
        self._hits: dict[str, deque[float]] = {}
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _count(store: dict[str, deque[float]], key: str, window: float, now: float) -> deque[float]:
        q = store.setdefault(key, deque())
        while q and q[0] <= now - window:
            q.popleft()
        return q

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._count(self._hits, key, 60, now)
            fails = self._count(self._fails, key, 3600, now)
            if len(hits) >= self.per_minute or len(fails) >= self.failures_per_hour:
                return False
            hits.append(now)
            if len(self._hits) > 100_000:  # bound memory under a flood of distinct clients
                self._hits.clear()
            return True

    def failed(self, key: str) -> None:
        with self._lock:
            self._count(self._fails, key, 3600, time.monotonic()).append(time.monotonic())
