"""Every scope decision of the operations centre.

- province_admin, province_staff: the whole province; only a province admin edits the alert rules;
- school_admin: their own school's tiles and alerts (and acknowledges / resolves only those);
- teacher: no access (the IOC is a management view; a teacher's classes are in the attendance pages);
- anonymous: the public view only, aggregates with small cells suppressed (`public_cells`);
- an API consumer of `/api/ioc/v1`: the province or the one school its token is scoped to.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.orm import Session

from central_server.core.tables import User
from central_server.masterdata.tables import School

from .tables import IocAlert, IocApiConsumer

VIEWERS = ("province_admin", "province_staff", "school_admin")
FORBIDDEN = "Bạn không có quyền xem dữ liệu này."


def require_viewer(user: User) -> None:
    if user.role not in VIEWERS or (not user.is_province and user.school_id is None):
        raise HTTPException(403, "Trung tâm điều hành chỉ dành cho cán bộ Sở và quản trị trường.")


def require_rule_editor(user: User) -> None:
    if user.role != "province_admin":
        raise HTTPException(403, "Chỉ quản trị Sở được sửa ngưỡng cảnh báo.")


def visible_schools(user: User) -> set[int] | None:
    """None = every school."""
    require_viewer(user)
    return None if user.is_province else {user.school_id}


def get_school(session: Session, user: User, school_id: int) -> School:
    schools = visible_schools(user)
    school = session.get(School, school_id)
    if school is None:
        raise HTTPException(404, "Không tìm thấy trường.")
    if schools is not None and school_id not in schools:
        raise HTTPException(403, FORBIDDEN)
    return school


def get_alert(session: Session, user: User, alert_id: int) -> IocAlert:
    """An alert the user may see and act on (acknowledge, resolve)."""
    schools = visible_schools(user)
    alert = session.get(IocAlert, alert_id)
    if alert is None:
        raise HTTPException(404, "Không tìm thấy cảnh báo.")
    if schools is not None and alert.school_id not in schools:
        raise HTTPException(403, FORBIDDEN)
    return alert


def consumer_schools(consumer: IocApiConsumer) -> set[int] | None:
    return None if consumer.school_id is None else {consumer.school_id}


def consumer_school(session: Session, consumer: IocApiConsumer, school_id: int) -> School:
    school = session.get(School, school_id)
    if school is None:
        raise HTTPException(404, "Không tìm thấy trường.")
    scope = consumer_schools(consumer)
    if scope is not None and school_id not in scope:
        raise HTTPException(403, "Token này không được cấp cho trường này.")
    return school


def public_cell(value: float | None, min_cell: int) -> float | None:
    """A count shown publicly: 1..min_cell-1 students are suppressed (None)."""
    if value is None or 0 < value < min_cell:
        return None
    return value
