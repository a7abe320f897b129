"""FastAPI dependencies shared by the library's API and pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central_server.core.auth import NotAuthenticated, current_user
from central_server.core.db import get_session
from central_server.core.tables import User

from .access import PROVINCE, can_view
from .runtime import LibraryRuntime, get_runtime
from .tables import LibraryItem

DbSession = Annotated[Session, Depends(get_session)]
Runtime = Annotated[LibraryRuntime, Depends(get_runtime)]
Staff = Annotated[User, Depends(current_user)]


def optional_user(request: Request, session: DbSession) -> User | None:
    """The signed-in person, or None for students and the public (no 401/redirect)."""
    try:
        return current_user(request, session)
    except NotAuthenticated:
        return None


MaybeUser = Annotated[User | None, Depends(optional_user)]


def load_item(session: Session, item_id: int, user: User | None) -> LibraryItem:
    item = session.get(LibraryItem, item_id)
    if item is None or not can_view(item, user):
        raise HTTPException(404, "Không tìm thấy học liệu (hoặc học liệu chưa được xuất bản).")
    return item


def require_province(user: User) -> None:
    if user.role not in PROVINCE:
        raise HTTPException(403, "Chức năng này dành cho cán bộ Sở.")
