"""`/api/ioc/v1/...`: the read-only API for the city's IOC. One bearer token per consumer (only its SHA-256 is
stored; `central-server ioc add-consumer`), scoped to the province or one school, rate-limited per consumer,
every call audited (actor `ioc-api:<name>`)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.auth import client_ip
from central_server.core.db import get_session, utcnow
from central_server.core.params import RowId

from . import access, service
from .schemas import AlertOut, FleetOut, OverviewOut, SchoolOut
from .tables import IocApiConsumer
from .tiles import PROVINCE, scope_of

router = APIRouter(prefix="/api/ioc/v1", tags=["ioc-v1 (city IOC)"])
DbSession = Annotated[Session, Depends(get_session)]
TOKEN_PREFIX = "ioc_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_consumer(session: Session, name: str, school_id: int | None = None,
                    rate_per_minute: int | None = None) -> tuple[IocApiConsumer, str]:
    """A new consumer and its token (shown once; the caller commits)."""
    if session.scalar(select(IocApiConsumer.id).where(IocApiConsumer.name == name)) is not None:
        raise ValueError(f"a consumer named {name!r} exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = IocApiConsumer(name=name, token_hash=token_hash(token), school_id=school_id,
                         rate_per_minute=rate_per_minute, active=True)
    session.add(row)
    session.flush()
    return row, token


class RateLimiter:
    """A sliding one-minute window per consumer (per process: behind N workers the limit is N times this)."""

    def __init__(self):
        self._calls: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: int, per_minute: int) -> float | None:
        """None when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            q = self._calls.setdefault(key, deque())
            while q and now - q[0] >= 60:
                q.popleft()
            if len(q) >= per_minute:
                return 60 - (now - q[0])
            q.append(now)
            return None


def consumer(request: Request, session: DbSession) -> IocApiConsumer:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    row = None
    if token.startswith(TOKEN_PREFIX):
        row = session.scalar(select(IocApiConsumer).where(IocApiConsumer.token_hash == token_hash(token),
                                                          IocApiConsumer.active))
    if row is None:
        audit(session, None, "ioc.api.denied", request.url.path[:200], None, ip=client_ip(request),
              outcome="denied", actor_name="ioc-api:?")
        session.commit()
        raise HTTPException(401, "Token không hợp lệ.", headers={"WWW-Authenticate": "Bearer"})
    limiter = getattr(request.app.state, "ioc_rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.ioc_rate_limiter = RateLimiter()
    wait = limiter.allow(row.id, row.rate_per_minute or request.app.state.ioc_settings.api_rate_per_minute)
    if wait is not None:
        audit(session, None, "ioc.api.limited", request.url.path[:200], None, ip=client_ip(request),
              outcome="limited", actor_name=f"ioc-api:{row.name}")
        session.commit()
        raise HTTPException(429, "Vượt giới hạn số lần gọi mỗi phút.", headers={"Retry-After": str(int(wait) + 1)})
    row.last_used_at = utcnow()
    audit(session, None, "ioc.api.read", request.url.path[:200], dict(request.query_params) or None,
          ip=client_ip(request), actor_name=f"ioc-api:{row.name}")
    session.commit()
    return row


Consumer = Annotated[IocApiConsumer, Depends(consumer)]


@router.get("/overview", response_model=OverviewOut)
def overview(request: Request, session: DbSession, who: Consumer):
    schools = access.consumer_schools(who)
    scope = PROVINCE if schools is None else scope_of(next(iter(schools)))
    return {"scope": scope, "last_day": service.last_day(session, scope), "tiles": service.tiles_of(session, scope),
            "schools": service.grid(session, request.app.state.settings, schools)}


@router.get("/schools/{school_id}", response_model=SchoolOut)
def school(request: Request, school_id: RowId, session: DbSession, who: Consumer):
    s = access.consumer_school(session, who, school_id)
    return {"id": s.id, "code": s.code, "name": s.name, "last_day": service.last_day(session, scope_of(s.id)),
            "tiles": service.tiles_of(session, scope_of(s.id)),
            "fleet": service.fleet(session, request.app.state.settings, [s])[0],
            "classes": service.classes_of(session, request.app.state.settings, s,
                                          service.last_day(session, scope_of(s.id)))}


@router.get("/fleet", response_model=list[FleetOut])
def fleet(request: Request, session: DbSession, who: Consumer):
    return service.fleet(session, request.app.state.settings,
                         service.schools_in(session, access.consumer_schools(who)))


@router.get("/alerts", response_model=list[AlertOut])
def alerts(session: DbSession, who: Consumer):
    """Open and acknowledged alerts of the consumer's scope, about schools and classes only: alerts about a
    student (absences, dropout signals) stay inside the education sector; their counts are tiles."""
    return [a for a in service.alerts_of(session, access.consumer_schools(who), "active")
            if not a.subject.startswith("student:")]
