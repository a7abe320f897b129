"""Core routes: sign-in / sign-out (web), bearer tokens (API), who am I, health, the audit log viewer."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import audit
from .audit_labels import action_label, outcome_label
from .auth import LoginError, authenticate, client_ip, current_user, issue_token, require_roles, revoke_token
from .db import get_session
from .tables import ROLE_LABELS, AuditLog, User
from .templating import templates

router = APIRouter()
DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
ProvinceAdmin = Annotated[User, Depends(require_roles("province_admin"))]


def safe_next(url: str | None) -> str:
    """Only local paths are followed after sign-in (no open redirect)."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/"):
    return templates.TemplateResponse(request, "core/login.html", {"next": safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login_submit(request: Request, session: DbSession, username: Annotated[str, Form(max_length=200)] = "",
                 password: Annotated[str, Form(max_length=1000)] = "", next: Annotated[str, Form()] = "/"):
    settings = request.app.state.settings
    try:
        user = authenticate(session, settings, username, password, client_ip(request))
    except LoginError as exc:
        return templates.TemplateResponse(request, "core/login.html",
                                          {"next": safe_next(next), "error": exc.message, "username": username},
                                          status_code=401)
    secret, _ = issue_token(session, user, "session", settings.session_ttl_minutes)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(settings.session_cookie_name, secret, max_age=settings.session_ttl_minutes * 60,
                        httponly=True, samesite="lax", secure=settings.cookie_secure, path="/")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: DbSession):
    settings = request.app.state.settings
    cookie = request.cookies.get(settings.session_cookie_name)
    if cookie:
        revoke_token(session, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(settings.session_cookie_name, path="/")
    return response


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


@router.get("/", include_in_schema=False)
def home(request: Request, user: CurrentUser):
    return RedirectResponse(request.app.state.home_path, status_code=303)


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
def account(request: Request, user: CurrentUser):
    return templates.TemplateResponse(request, "core/account.html", {"user": user})


class AuditOut(BaseModel):
    id: int
    at: str
    actor_name: str
    actor_role: str
    action: str
    target: str
    outcome: str
    ip: str


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


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, user: ProvinceAdmin,
               session: DbSession):
    rows = session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(300)).all()
    audit(session, user, "audit.view", "audit_log", ip=client_ip(request))
    session.commit()
    tz = ZoneInfo(request.app.state.settings.timezone)
    return templates.TemplateResponse(request, "core/audit.html", {
        "user": user, "rows": [(r, r.at.astimezone(tz)) for r in rows], "tz": tz.key,
        "action_label": action_label, "outcome_label": outcome_label, "role_labels": ROLE_LABELS})
