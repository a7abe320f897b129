"""Kiosk sign-in sessions: a random token in an HttpOnly cookie, its hash and a CSRF token in the database."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge_agent.store.school_db import transaction

COOKIE = "kiosk_session"


@dataclass(frozen=True)
class KioskSession:
    teacher_id: str
    teacher_name: str
    csrf: str
    must_change_pin: bool = False


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: sqlite3.Connection, teacher_id: str, minutes: int) -> str:
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with transaction(conn):
        conn.execute("DELETE FROM kiosk_sessions WHERE expires_at < ?", (now.isoformat(),))
        conn.execute("INSERT INTO kiosk_sessions (token_hash, teacher_id, csrf, expires_at) VALUES (?, ?, ?, ?)",
                     (_hash(token), teacher_id, secrets.token_urlsafe(24),
                      (now + timedelta(minutes=minutes)).isoformat()))
    return token


def find_session(conn: sqlite3.Connection, token: str | None) -> KioskSession | None:
    if not token or len(token) > 100:
        return None
    row = conn.execute("SELECT k.*, t.full_name, t.pin_must_change FROM kiosk_sessions k "
                       "JOIN teachers t ON t.id = k.teacher_id "
                       "WHERE k.token_hash = ? AND k.expires_at > ? AND t.active = 1",
                       (_hash(token), datetime.now(UTC).isoformat())).fetchone()
    return None if row is None else KioskSession(row["teacher_id"], row["full_name"], row["csrf"],
                                                    bool(row["pin_must_change"]))


def close_session(conn: sqlite3.Connection, token: str | None) -> None:
    if token:
        conn.execute("DELETE FROM kiosk_sessions WHERE token_hash = ?", (_hash(token),))
