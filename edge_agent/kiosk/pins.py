"""Teacher PINs: scrypt hashes (standard library) and lockout after repeated failures, stored in `teachers`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge_agent.store.school_db import audit, transaction

_N, _R, _P = 2**14, 8, 1
PIN_RE = re.compile(r"^[0-9]{4,8}$")


def hash_pin(pin: str) -> str:
    if not PIN_RE.match(pin or ""):
        raise ValueError("a PIN is 4 to 8 digits")
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_pin(pin: str, stored: str | None) -> bool:
    if not stored or not isinstance(pin, str) or len(pin) > 32:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


@dataclass(frozen=True)
class SignIn:
    ok: bool
    message: str                 # Vietnamese, for the kiosk
    teacher_id: str | None = None
    locked_until: datetime | None = None


def check_pin(conn: sqlite3.Connection, teacher_id: str, pin: str, *, max_failures: int, lockout_minutes: int,
              now: datetime | None = None) -> SignIn:
    """Verify a teacher's PIN; after `max_failures` wrong PINs in a row the teacher is locked out for a while."""
    now = now or datetime.now(UTC)
    with transaction(conn):
        row = conn.execute("SELECT * FROM teachers WHERE id = ? AND active = 1", (teacher_id,)).fetchone()
        if row is None or not row["pin_hash"]:
            return SignIn(False, "Mã giáo viên hoặc mã PIN không đúng.")
        if row["locked_until"] and datetime.fromisoformat(row["locked_until"]) > now:
            until = datetime.fromisoformat(row["locked_until"])
            return SignIn(False, "Tài khoản tạm khoá do nhập sai PIN nhiều lần. Thử lại sau "
                          f"{until.astimezone().strftime('%H:%M')}.", locked_until=until)
        if verify_pin(pin, row["pin_hash"]):
            conn.execute("UPDATE teachers SET failed_attempts = 0, locked_until = NULL WHERE id = ?", (teacher_id,))
            audit(conn, teacher_id, "kiosk.sign_in", f"teacher:{teacher_id}")
            return SignIn(True, "Đăng nhập thành công.", teacher_id=teacher_id)
        failures = row["failed_attempts"] + 1
        if failures >= max_failures:
            until = now + timedelta(minutes=lockout_minutes)
            conn.execute("UPDATE teachers SET failed_attempts = 0, locked_until = ? WHERE id = ?",
                         (until.isoformat(), teacher_id))
            audit(conn, teacher_id, "kiosk.locked", f"teacher:{teacher_id}", f"{failures} wrong PINs")
            return SignIn(False, f"Sai PIN {failures} lần: tài khoản bị khoá {lockout_minutes} phút.",
                          locked_until=until)
        conn.execute("UPDATE teachers SET failed_attempts = ? WHERE id = ?", (failures, teacher_id))
        audit(conn, teacher_id, "kiosk.bad_pin", f"teacher:{teacher_id}", f"attempt {failures}")
        return SignIn(False, f"Mã giáo viên hoặc mã PIN không đúng (còn {max_failures - failures} lần thử).")
