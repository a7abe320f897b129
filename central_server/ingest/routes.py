"""Ingest HTTP API for edge agents (signed with the school key) and the quarantine view for province staff.

- POST /api/ingest/reconcile            which of my sequence numbers do you hold? (edge re-sends gaps)
- GET  /api/ingest/packages/{kind}/{v}  download a package announced on the control topic
- GET  /api/ingest/quarantine           recent rejected messages (province roles)

The control outbox's view and dispatcher are in central_server/control/routes.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.auth import require_roles
from central_server.core.db import get_session
from central_server.ingest.config import IngestSettings
from central_server.ingest.service import KeyStore, reconcile
from central_server.ingest.tables import IngestQuarantine
from edge_agent.protocol import ControlKind, ProtocolError, ReconcileRequest, ReconcileResponse, verify_request

router = APIRouter(prefix="/api/ingest", tags=["ingest"])
_VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DbSession = Annotated[Session, Depends(get_session)]
ProvinceUser = Annotated[object, Depends(require_roles("province_admin", "province_staff"))]


def _keys(request: Request) -> KeyStore:
    store = getattr(request.app.state, "ingest_keys", None)
    if store is None:
        store = request.app.state.ingest_keys = KeyStore(request.app.state.sessionmaker)
    return store


async def school_of(request: Request) -> str:
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        return verify_request(request.headers, request.method, path, body, _keys(request).get)
    except ProtocolError as exc:
        raise HTTPException(401, f"Xác thực trường không hợp lệ: {exc.message}") from None


@router.post("/reconcile", response_model=ReconcileResponse)
async def reconcile_route(request: Request, school: Annotated[str, Depends(school_of)],
                          session: DbSession) -> ReconcileResponse:
    try:
        req = ReconcileRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, f"Yêu cầu đối soát không hợp lệ: {exc.errors()[0]['msg']}") from None
    if req.school != school:
        raise HTTPException(403, "Trường chỉ được đối soát dữ liệu của chính mình")
    return reconcile(session, school, req.from_seq, req.to_seq)


@router.get("/packages/{kind}/{version}")
def package_route(kind: str, version: str, request: Request,
                  school: Annotated[str, Depends(school_of)]) -> FileResponse:
    try:
        kind_ = ControlKind(kind)
    except ValueError:
        raise HTTPException(404, "Không có loại gói này") from None
    if kind_ is ControlKind.ERASURE_REQUEST or not _VERSION_RE.match(version):
        raise HTTPException(404, "Không có gói này")
    settings = getattr(request.app.state, "ingest_settings", None) or IngestSettings()
    path = Path(settings.packages_dir) / school / kind_.value / version
    if not path.is_file():
        raise HTTPException(404, "Không có gói này cho trường")
    return FileResponse(path, media_type="application/octet-stream")


@router.get("/quarantine")
def quarantine_route(session: DbSession, user: ProvinceUser,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    rows = session.execute(select(IngestQuarantine).order_by(IngestQuarantine.id.desc()).limit(limit)).scalars()
    return [{"id": r.id, "received_at": r.received_at.isoformat(), "topic": r.topic, "reason": r.reason,
             "detail": r.detail, "school": r.school, "event_id": r.event_id, "payload_size": r.payload_size}
            for r in rows]
