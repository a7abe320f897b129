"""The audit log: every data access by a person, every login attempt, every change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .tables import AuditLog, User


def audit(session: Session, actor: User | None, action: str, target: str = "", detail: dict[str, Any] | None = None,
          *, ip: str = "", outcome: str = "ok", actor_name: str = "") -> AuditLog:
    """Add an audit row to `session` (the caller's transaction commits it with the data it concerns).

    `action` is a dotted verb (``student.view``, ``auth.login``), `target` what it concerns
    (``student:12``), `detail` small JSON (never passwords or biometric data).
    """
    row = AuditLog(actor_id=actor.id if actor is not None else None,
                   actor_name=actor.username if actor is not None else actor_name[:64],
                   actor_role=actor.role if actor is not None else "",
                   action=action[:64], target=str(target)[:200], detail=detail, ip=ip[:64], outcome=outcome[:16])
    session.add(row)
    return row
