"""Core pages: sign-in / sign-out, the home redirect, the account page, the audit log viewer."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
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


@router.get("/", include_in_schema=False)
def home(request: Request, user: CurrentUser):
    return RedirectResponse(request.app.state.home_path, status_code=303)


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
def account(request: Request, user: CurrentUser):
    return templates.TemplateResponse(request, "core/account.html", {"user": user})


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
