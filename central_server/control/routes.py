"""The control outbox's HTTP side for province staff, and the dispatcher's place in the app's lifespan.

- GET /api/ingest/control-outbox   control messages not yet delivered to the broker (province roles)

`setup` runs the control outbox dispatcher for as long as the app runs (dispatcher.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from central_server.control import dispatcher, outbox
from central_server.core.auth import require_roles
from central_server.core.db import get_session

router = APIRouter(prefix="/api/ingest", tags=["ingest"])
DbSession = Annotated[Session, Depends(get_session)]
ProvinceUser = Annotated[object, Depends(require_roles("province_admin", "province_staff"))]


@router.get("/control-outbox")
def control_outbox_route(request: Request, session: DbSession, user: ProvinceUser) -> dict:
    """Backlog of erasure requests and package notices the broker has not taken yet (operations centre)."""
    running = getattr(request.app.state, "control_dispatcher", None)
    return outbox.backlog(session) | {"dispatcher_running": running is not None}


def setup(app) -> None:
    dispatcher.install(app)
