"""Sliding-window attempt counters shared by every worker process (rows in `throttle_hits`).

A scope names what is counted ("login_ip", "login_account_ip", "adm_edit_ip", ...); a key is who or what it is
counted for (a client address, "account|address", an application). Keys are stored as SHA-256 digests. Callers
ask `exceeded()` before doing the work, and `record()` a failure after it; `clear()` forgets a key after success.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .db import utcnow
from .tables import ThrottleHit

# Rows older than this are deleted as new ones come (no window in the product is longer).
RETENTION = dt.timedelta(days=1)


def _key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def count(session: Session, scope: str, key: str, window: dt.timedelta) -> int:
    since = utcnow() - window
    return session.scalar(select(func.count(ThrottleHit.id)).where(
        ThrottleHit.scope == scope, ThrottleHit.key_hash == _key(key), ThrottleHit.at > since)) or 0


def exceeded(session: Session, scope: str, key: str, limit: int, window: dt.timedelta) -> bool:
    """True when `key` already has `limit` or more hits in the last `window`."""
    return count(session, scope, key, window) >= limit


def record(session: Session, scope: str, key: str) -> None:
    """Count one hit (the caller commits) and drop this key's expired rows."""
    now = utcnow()
    digest = _key(key)
    session.execute(delete(ThrottleHit).where(ThrottleHit.scope == scope, ThrottleHit.key_hash == digest,
                                              ThrottleHit.at < now - RETENTION))
    session.add(ThrottleHit(scope=scope, key_hash=digest, at=now))


def clear(session: Session, scope: str, key: str) -> None:
    session.execute(delete(ThrottleHit).where(ThrottleHit.scope == scope, ThrottleHit.key_hash == _key(key)))
