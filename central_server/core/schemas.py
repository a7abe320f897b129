"""Request/response models of the core API."""

from __future__ import annotations

from pydantic import BaseModel


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str


class MeOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    school_id: int | None


class AuditOut(BaseModel):
    id: int
    at: str
    actor_name: str
    actor_role: str
    action: str
    target: str
    outcome: str
    ip: str
