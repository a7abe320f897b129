"""Teacher PINs: scrypt hashes (standard library) and lockout after repeated failures, stored in `teachers`.

New PINs are exactly 6 digits; a PIN set before that rule (4-8 digits) still signs in once, and the teacher must
then choose a 6-digit PIN (`pin_must_change`) before using the kiosk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from edge_agent.store.school_db import audit, transaction

_N, _R, _P = 2**14, 8, 1
PIN_DIGITS = 6
PIN_RE = re.compile(r"^[0-9]{6}$")
_WEAK = {"000000", "111111", "123456", "654321", "123123", "112233", "121212"}


class PinError(ValueError):
    """A new PIN that is not allowed; the message is Vietnamese (shown on the kiosk and by the CLI)."""


def check_new_pin(pin: str) -> None:
    if not PIN_RE.match(pin or ""):
        raise PinError(f"Mã PIN phải gồm đúng {PIN_DIGITS} chữ số.")
    if pin in _WEAK or len(set(pin)) == 1:
        raise PinError("Mã PIN quá dễ đoán, hãy chọn dãy số khác.")


def hash_pin(pin: str) -> str:
    check_new_pin(pin)
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
    must_change: bool = False
    tries_left: int | None = None    # before this teacher is locked out; None for an unknown code


def set_pin(conn: sqlite3.Connection, teacher_id: str, pin: str, actor: str, *, must_change: bool = False) -> None:
    """Store a new 6-digit PIN (refused with PinError otherwise); clears the lockout; audited."""
    stored = hash_pin(pin)
    with transaction(conn):
        cur = conn.execute("UPDATE teachers SET pin_hash = ?, pin_must_change = ?, failed_attempts = 0, "
                           "locked_until = NULL WHERE id = ?", (stored, int(must_change), teacher_id))
        if cur.rowcount != 1:
            raise PinError(f"Không có giáo viên mã {teacher_id}.")
        audit(conn, actor, "kiosk.pin_set", f"teacher:{teacher_id}", "must change" if must_change else "")


def require_pin_change(conn: sqlite3.Connection, teacher_id: str, actor: str) -> None:
    """Make the teacher choose a new PIN at the next sign-in (the admin command for old 4-digit PINs)."""
    with transaction(conn):
        if conn.execute("UPDATE teachers SET pin_must_change = 1 WHERE id = ?", (teacher_id,)).rowcount != 1:
            raise PinError(f"Không có giáo viên mã {teacher_id}.")
        audit(conn, actor, "kiosk.pin_must_change", f"teacher:{teacher_id}")


def check_pin(conn: sqlite3.Connection, teacher_id: str, pin: str, *, max_failures: int, lockout_minutes: int,
              now: datetime | None = None, tz: tzinfo | None = None) -> SignIn:
    """Verify a teacher's PIN; after `max_failures` wrong PINs in a row the teacher is locked out for a while."""
    now = now or datetime.now(UTC)
    with transaction(conn):
        row = conn.execute("SELECT * FROM teachers WHERE id = ? AND active = 1", (teacher_id,)).fetchone()
        if row is None or not row["pin_hash"]:
            return SignIn(False, "Mã giáo viên hoặc mã PIN không đúng.")
        if row["locked_until"] and datetime.fromisoformat(row["locked_until"]) > now:
            until = datetime.fromisoformat(row["locked_until"])
            return SignIn(False, "Tài khoản tạm khoá do nhập sai PIN nhiều lần. Thử lại sau "
                          f"{until.astimezone(tz).strftime('%H:%M')}.", locked_until=until)
        if verify_pin(pin, row["pin_hash"]):
            conn.execute("UPDATE teachers SET failed_attempts = 0, locked_until = NULL WHERE id = ?", (teacher_id,))
            must_change = bool(row["pin_must_change"]) or not PIN_RE.match(pin)
            if must_change and not row["pin_must_change"]:
                conn.execute("UPDATE teachers SET pin_must_change = 1 WHERE id = ?", (teacher_id,))
            audit(conn, teacher_id, "kiosk.sign_in", f"teacher:{teacher_id}", "PIN must change" if must_change else "")
            return SignIn(True, "Đăng nhập thành công.", teacher_id=teacher_id, must_change=must_change)
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
        return SignIn(False, f"Mã giáo viên hoặc mã PIN không đúng (còn {max_failures - failures} lần thử).",
                      tries_left=max_failures - failures)
