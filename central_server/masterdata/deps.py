"""FastAPI dependencies shared by the master-data API (routes.py) and its pages (pages.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central_server.core.auth import current_user, require_roles
from central_server.core.clock import local_today
from central_server.core.db import get_session
from central_server.core.tables import User

from . import service
from .schemas import check_school_year

DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
Manager = Annotated[User, Depends(require_roles("province_admin", "school_admin"))]


def school_year_param(value: str) -> str:
    try:
        return check_school_year(value)
    except (ValueError, AttributeError):
        raise HTTPException(422, "Năm học phải có dạng 2025-2026.") from None


def current_year(request: Request) -> str:
    return service.school_year_of(local_today(request.app.state.settings.timezone),
                                  request.app.state.settings.year_start_month)
