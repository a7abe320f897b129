"""Consent per purpose, who gave it and when; withdrawal erases the biometric data.

Rule (Decree 13/2023 Art. 20, Law 91/2025): biometric processing of a minor needs the explicit consent of the
parent/guardian, and of the child too from age 7; an adult (18+) consents alone. A student without every
required, unwithdrawn consent for `attendance` is never enrolled. Silence (no row) is not consent. An unknown
date of birth is treated as a minor aged 7 or more (both consents).
"""

from __future__ import annotations

import sqlite3
from datetime import date

from edge_agent.store import school_db
from enrollment_tools.fields import age_on, parse_date, today

ENROL_PURPOSE = "attendance"


def required_givers(dob: str | None, on: date | None = None) -> set[str]:
    if not dob:
        return {"parent", "student"}
    try:
        age = age_on(parse_date(dob[:10]), on or today())
    except ValueError:
        return {"parent", "student"}
    if age >= 18:
        return {"student"}
    return {"parent", "student"} if age >= 7 else {"parent"}


def active_givers(conn: sqlite3.Connection, student_id: str, purpose: str = ENROL_PURPOSE) -> set[str]:
    return {r[0] for r in conn.execute("SELECT given_by FROM consents WHERE student_id = ? AND purpose = ? "
                                       "AND withdrawn_at IS NULL", (student_id, purpose))}


def missing_consent(conn: sqlite3.Connection, student_id: str, purpose: str = ENROL_PURPOSE) -> list[str]:
    """Givers whose consent is still missing (empty: the student may be enrolled); ['unknown'] if no student."""
    row = conn.execute("SELECT date_of_birth FROM students WHERE id = ?", (student_id,)).fetchone()
    if row is None:
        return ["unknown"]
    return sorted(required_givers(row[0]) - active_givers(conn, student_id, purpose))


def without_consent(conn: sqlite3.Connection, purpose: str = ENROL_PURPOSE) -> dict[str, list[str]]:
    """Active students who may not be enrolled: id -> missing givers."""
    active: dict[str, set[str]] = {}
    for sid, giver in conn.execute("SELECT student_id, given_by FROM consents WHERE purpose = ? AND "
                                   "withdrawn_at IS NULL", (purpose,)):
        active.setdefault(sid, set()).add(giver)
    out = {}
    for sid, dob in conn.execute("SELECT id, date_of_birth FROM students WHERE status = 'active' ORDER BY id"):
        missing = required_givers(dob) - active.get(sid, set())
        if missing:
            out[sid] = sorted(missing)
    return out


def give(conn: sqlite3.Connection, student_id: str, purpose: str, given_by: str, given_at: str, actor: str,
         note: str = "") -> bool:
    """Record a consent (caller's transaction); False if the same consent is already active."""
    if given_by in active_givers(conn, student_id, purpose):
        return False
    conn.execute("INSERT INTO consents (student_id, purpose, given_by, given_at, note) VALUES (?, ?, ?, ?, ?)",
                 (student_id, purpose, given_by, given_at, note or None))
    school_db.audit(conn, actor, "consent.give", student_id, f"{purpose} by {given_by} at {given_at}")
    return True


def withdraw(conn: sqlite3.Connection, student_id: str, purpose: str, given_by: str, actor: str,
             when: str | None = None, reason: str = "rút lại đồng ý"):
    """Withdraw a consent and erase the biometric data it covered (caller's transaction): every template for
    `attendance`, the learned templates for the learning purpose.

    Returns the `Erasure` (it is done even when no consent was active: withdrawing is always honoured).
    """
    # lazy: removal loads FAISS (the gallery), needed only when a withdrawal erases
    from edge_agent.recognition.learning import LEARNING_PURPOSE
    from enrollment_tools.removal import erase_learned, erase_student

    when = when or school_db.now_iso()
    n = conn.execute("UPDATE consents SET withdrawn_at = ? WHERE student_id = ? AND purpose = ? AND given_by = ? "
                     "AND withdrawn_at IS NULL", (when, student_id, purpose, given_by)).rowcount
    school_db.audit(conn, actor, "consent.withdraw", student_id, f"{purpose} by {given_by} ({n} active)")
    if purpose == LEARNING_PURPOSE:  # learning stops; what it learned goes, the enrolment stays
        return erase_learned(conn, student_id, f"{reason} ({given_by}, {purpose})", actor)
    return erase_student(conn, student_id, f"{reason} ({given_by}, {purpose})", actor)
