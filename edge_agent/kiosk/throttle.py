"""Per-client sign-in throttling for the kiosk (besides the per-teacher PIN lockout in `pins.py`): a client that
gets `max_failures` sign-ins wrong within `window_minutes`, whatever teacher codes it tries, is refused for
`lockout_minutes`. The client is the TCP peer address (uvicorn substitutes X-Forwarded-For only when the peer is a
configured trusted proxy)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from edge_agent.store.school_db import audit, transaction


def client_locked_until(conn: sqlite3.Connection, client: str, now: datetime) -> datetime | None:
    row = conn.execute("SELECT locked_until FROM kiosk_client_failures WHERE client = ?", (client,)).fetchone()
    if row is None or not row["locked_until"]:
        return None
    until = datetime.fromisoformat(row["locked_until"])
    return until if until > now else None


def client_failed(conn: sqlite3.Connection, client: str, now: datetime, *, max_failures: int, window_minutes: int,
                  lockout_minutes: int) -> int:
    """Count one wrong sign-in from `client`; returns how many tries it has left (0: now locked out)."""
    with transaction(conn):
        row = conn.execute("SELECT * FROM kiosk_client_failures WHERE client = ?", (client,)).fetchone()
        if row is None or datetime.fromisoformat(row["first_at"]) < now - timedelta(minutes=window_minutes):
            failures, first = 1, now
        else:
            failures, first = row["failures"] + 1, datetime.fromisoformat(row["first_at"])
        locked = None
        if failures >= max_failures:
            locked = (now + timedelta(minutes=lockout_minutes)).isoformat()
            audit(conn, "kiosk", "kiosk.client_locked", f"client:{client[:64]}", f"{failures} wrong sign-ins")
        conn.execute("INSERT INTO kiosk_client_failures (client, failures, first_at, locked_until) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT(client) DO UPDATE SET failures = excluded.failures, first_at = excluded.first_at, "
                     "locked_until = excluded.locked_until",
                     (client[:64], 0 if locked else failures, first.isoformat(), locked))
    return max(0, max_failures - failures)

