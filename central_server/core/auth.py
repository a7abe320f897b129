"""Sign-in, lockout, session cookies and bearer tokens, and the `current_user` / `require_roles` dependencies."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import passwords, throttle
from .audit import audit
from .config import Settings
from .db import get_session, utcnow
from .tables import ROLES, AuthToken, User

PROVINCE_ROLES = ("province_admin", "province_staff")


class LoginError(Exception):
    """Sign-in refused; `message` is shown to the person (Vietnamese). Unknown user, wrong password and a locked
    account get the same message, so that the answer reveals neither which usernames exist nor which are locked;
    only a client that is itself blocked is told so (that says nothing about any account)."""

    def __init__(self, message: str, locked: bool = False):
        super().__init__(message)
        self.message = message
        self.locked = locked


BAD_CREDENTIALS = ("Tên đăng nhập hoặc mật khẩu không đúng. Sau nhiều lần sai, việc đăng nhập sẽ bị tạm khoá "
                   "trong ít phút.")
CLIENT_BLOCKED = "Thiết bị này đã đăng nhập sai quá nhiều lần. Vui lòng thử lại sau ít phút."


def create_user(session: Session, username: str, password: str, role: str, *, full_name: str = "",
                school_id: int | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role in ("school_admin", "teacher") and school_id is None:
        raise ValueError(f"role {role} needs a school")
    passwords.check_policy(password, role, username)
    user = User(username=username.strip().lower(), full_name=full_name, role=role, school_id=school_id,
                password_hash=passwords.hash_password(password))
    session.add(user)
    session.flush()
    return user


def client_ip(request: Request | None) -> str:
    if request is None or request.client is None:
        return ""
    return request.client.host or ""


def authenticate(session: Session, settings: Settings, username: str, password: str, ip: str = "") -> User:
    """Check a password; audits every attempt and commits the counters. Raises LoginError.

    Three counters (core/throttle.py, shared by every worker): failures from this client across all accounts
    (`client_failure_limit` blocks the client, so guessing many usernames from one place stops), failures of
    this account from this client (`lockout_threshold` locks the pair: a stranger cannot lock a teacher out of
    their own school's computer), and failures of this account from anywhere (`account_lockout_threshold`, much
    higher, locks the account for everyone against a distributed guess). A refusal while locked looks exactly
    like a wrong password.
    """
    name = (username or "").strip().lower()[:64]
    window = dt.timedelta(minutes=settings.lockout_minutes)
    client_key = ip or "-"
    if throttle.exceeded(session, "login_client", client_key, settings.client_failure_limit, window):
        passwords.dummy_verify(password or "")
        audit(session, None, "auth.login", f"user:{name}", {"reason": "client_blocked"}, ip=ip, outcome="denied",
              actor_name=name)
        session.commit()
        raise LoginError(CLIENT_BLOCKED, locked=True)
    user = session.scalars(select(User).where(User.username == name)).one_or_none()
    now = utcnow()
    if user is None or not user.is_active:
        passwords.dummy_verify(password or "")
        throttle.record(session, "login_client", client_key)
        audit(session, None, "auth.login", f"user:{name}", ip=ip, outcome="denied", actor_name=name)
        session.commit()
        raise LoginError(BAD_CREDENTIALS)
    pair_key = f"{user.id}|{client_key}"
    pair_locked = throttle.exceeded(session, "login_pair", pair_key, settings.lockout_threshold, window)
    account_locked = user.locked_until is not None and user.locked_until > now
    if pair_locked or account_locked:
        passwords.dummy_verify(password or "")
        throttle.record(session, "login_client", client_key)
        audit(session, user, "auth.login", f"user:{user.id}",
              {"reason": "locked", "scope": "account" if account_locked else "client"}, ip=ip, outcome="denied")
        session.commit()
        raise LoginError(BAD_CREDENTIALS, locked=True)
    if not passwords.verify_password(user.password_hash, password or ""):
        throttle.record(session, "login_client", client_key)
        throttle.record(session, "login_pair", pair_key)
        user.failed_logins += 1
        account_lock = user.failed_logins >= settings.account_lockout_threshold
        if account_lock:
            user.locked_until = now + window
            user.failed_logins = 0
        pair_lock = throttle.count(session, "login_pair", pair_key, window) >= settings.lockout_threshold
        audit(session, user, "auth.login", f"user:{user.id}",
              {"reason": "bad_password", "locked": pair_lock or account_lock}, ip=ip, outcome="denied")
        session.commit()
        raise LoginError(BAD_CREDENTIALS, locked=pair_lock or account_lock)
    throttle.clear(session, "login_pair", pair_key)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit(session, user, "auth.login", f"user:{user.id}", ip=ip)
    session.commit()
    return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, kind: str, ttl_minutes: int) -> tuple[str, dt.datetime]:
    """A new random secret for a web session ("session") or the API ("api"); only its hash is stored."""
    secret = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(minutes=ttl_minutes)
    session.add(AuthToken(token_hash=_digest(secret), user_id=user.id, kind=kind, expires_at=expires))
    session.commit()
    return secret, expires


def revoke_token(session: Session, secret: str) -> None:
    row = session.scalars(select(AuthToken).where(AuthToken.token_hash == _digest(secret))).one_or_none()
    if row is not None:
        row.revoked = True
        session.commit()


def user_for_token(session: Session, secret: str, kind: str) -> User | None:
    row = session.scalars(select(AuthToken).where(AuthToken.token_hash == _digest(secret),
                                                  AuthToken.kind == kind)).one_or_none()
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user


@dataclass(frozen=True)
class Principal:
    """A detached snapshot of the signed-in user (kept on request.state for logs and error pages)."""

    id: int
    username: str
    full_name: str
    role: str
    role_label: str
    school_id: int | None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.id, user.username, user.full_name, user.role, user.role_label, user.school_id)


@dataclass
class NotAuthenticated(Exception):
    """Raised by `current_user`; the app turns it into 401 (API) or a redirect to /login (web pages)."""

    detail: str = "Chưa đăng nhập."


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def current_user(request: Request, session: Annotated[Session, Depends(get_session)]) -> User:
    """The signed-in person: a bearer token (API) or the session cookie (web UI)."""
    settings: Settings = request.app.state.settings
    token = _bearer(request)
    user = None
    if token is not None:
        user = user_for_token(session, token, "api")
    else:
        cookie = request.cookies.get(settings.session_cookie_name)
        if cookie:
            user = user_for_token(session, cookie, "session")
    if user is None:
        raise NotAuthenticated()
    request.state.user = Principal.of(user)
    return user


def require_roles(*roles: str):
    """Dependency factory: the current user if their role is one of `roles`, else 403."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def _dep(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Bạn không có quyền truy cập chức năng này.")
        return user

    return _dep
