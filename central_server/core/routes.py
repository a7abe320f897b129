"""Core API: bearer tokens, who am I, health, the audit log; the pages (sign-in, account, audit) are in pages.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import audit
from .auth import LoginError, authenticate, client_ip, current_user, issue_token, require_roles
from .db import get_session
from .pages import router as pages_router
from .schemas import AuditOut, MeOut, TokenOut
from .tables import AuditLog, User

router = APIRouter()
DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
ProvinceAdmin = Annotated[User, Depends(require_roles("province_admin"))]


@router.post("/api/auth/token", response_model=TokenOut, tags=["auth"],
             responses={401: {"description": "Sai tên đăng nhập/mật khẩu hoặc tài khoản bị khoá"}})
def api_token(request: Request, username: Annotated[str, Form(max_length=200)],
              password: Annotated[str, Form(max_length=1000)], session: DbSession):
    """OAuth2 password flow (form fields `username`, `password`) → a bearer token for the API."""
    settings = request.app.state.settings
    try:
        user = authenticate(session, settings, username, password, client_ip(request))
    except LoginError as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from None
    secret, expires = issue_token(session, user, "api", settings.api_token_ttl_minutes)
    return TokenOut(access_token=secret, expires_at=expires.isoformat())


@router.get("/api/auth/me", response_model=MeOut, tags=["auth"])
def me(user: CurrentUser):
    return MeOut(id=user.id, username=user.username, full_name=user.full_name, role=user.role,
                 school_id=user.school_id)


@router.get("/healthz", tags=["ops"])
def healthz(session: DbSession):
    session.execute(select(1))
    return {"status": "ok"}


@router.get("/api/audit", response_model=list[AuditOut], tags=["audit"])
def audit_list(request: Request, user: ProvinceAdmin, session: DbSession,
               action: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200):
    """The latest audit rows (province admin only); reading the audit log is itself audited."""
    q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if action:
        q = q.where(AuditLog.action == action)
    rows = session.scalars(q).all()
    audit(session, user, "audit.view", "audit_log", {"action": action, "limit": limit}, ip=client_ip(request))
    session.commit()
    return [AuditOut(id=r.id, at=r.at.isoformat(), actor_name=r.actor_name, actor_role=r.actor_role,
                     action=r.action, target=r.target, outcome=r.outcome, ip=r.ip) for r in rows]


router.include_router(pages_router)
