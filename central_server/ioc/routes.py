"""IOC JSON API for signed-in people (`/api/ioc/...`), plus the pages (pages.py) and the city IOC API (api_v1.py).

Thin: scope decisions in access.py, logic in service.py; every read by a person is audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.auth import client_ip, current_user
from central_server.core.clock import local_today
from central_server.core.db import get_session
from central_server.core.params import RowId as Id
from central_server.core.tables import User
from central_server.core.templating import add_nav

from . import access, export, job, service
from .api_v1 import router as v1_router
from .config import IocSettings
from .pages import router as pages_router
from .schemas import AckIn, AlertOut, FleetOut, OverviewOut, PublicOut, ResolveIn, RuleIn, RuleOut, SchoolOut
from .tiles import PROVINCE, scope_of

router = APIRouter()
router.include_router(pages_router)
router.include_router(v1_router)
api = APIRouter(prefix="/api/ioc", tags=["ioc"])
DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def setup(app) -> None:
    if getattr(app.state, "ioc_settings", None) is None:
        app.state.ioc_settings = IocSettings()
    add_nav("/ioc", "Trung tâm điều hành", ("province_admin", "province_staff", "school_admin"))
    job.install(app)


def ioc_settings(request: Request) -> IocSettings:
    return request.app.state.ioc_settings


def _log(session: Session, request: Request, user: User, action: str, target: str) -> None:
    audit(session, user, action, target, {"path": request.url.path}, ip=client_ip(request))
    session.commit()


@api.get("/overview", response_model=OverviewOut)
def overview(request: Request, session: DbSession, user: CurrentUser):
    """The province's tiles (a school admin: their school's) and the grid of schools coloured by state."""
    schools = access.visible_schools(user)
    scope = PROVINCE if schools is None else scope_of(next(iter(schools)))
    out = {"scope": scope, "last_day": service.last_day(session, scope), "tiles": service.tiles_of(session, scope),
           "schools": service.grid(session, request.app.state.settings, schools)}
    _log(session, request, user, "ioc.overview", scope)
    return out


@api.get("/schools/{school_id}", response_model=SchoolOut)
def school(request: Request, school_id: Id, session: DbSession, user: CurrentUser):
    s = access.get_school(session, user, school_id)
    out = {"id": s.id, "code": s.code, "name": s.name, "last_day": service.last_day(session, scope_of(s.id)),
           "tiles": service.tiles_of(session, scope_of(s.id)),
           "fleet": service.fleet(session, request.app.state.settings, [s])[0],
           "classes": service.classes_of(session, request.app.state.settings, s,
                                         service.last_day(session, scope_of(s.id)))}
    _log(session, request, user, "ioc.school", f"school:{school_id}")
    return out


@api.get("/fleet", response_model=list[FleetOut])
def fleet(request: Request, session: DbSession, user: CurrentUser):
    """Edge agents: online/offline, last heartbeat, outbox backlog, cameras' FPS, gallery and model versions."""
    out = service.fleet(session, request.app.state.settings, service.schools_in(session, access.visible_schools(user)))
    _log(session, request, user, "ioc.fleet", "schools")
    return out


@api.get("/alerts", response_model=list[AlertOut])
def alerts(request: Request, session: DbSession, user: CurrentUser,
           state: Annotated[Literal["active", "open", "acknowledged", "resolved"] | None, Query()] = None):
    rows = service.alerts_of(session, access.visible_schools(user), state)
    _log(session, request, user, "ioc.alerts", "alerts")
    return rows


@api.post("/alerts/{alert_id}/ack", response_model=AlertOut)
def acknowledge(request: Request, alert_id: Id, data: AckIn, session: DbSession, user: CurrentUser):
    alert = access.get_alert(session, user, alert_id)
    service.acknowledge(session, ioc_settings(request), user, alert, data.note, client_ip(request))
    session.commit()
    return alert


@api.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(request: Request, alert_id: Id, data: ResolveIn, session: DbSession, user: CurrentUser):
    alert = access.get_alert(session, user, alert_id)
    service.resolve(session, ioc_settings(request), user, alert, data.note, client_ip(request))
    session.commit()
    return alert


@api.get("/rules", response_model=list[RuleOut])
def rules(request: Request, session: DbSession, user: CurrentUser):
    access.require_viewer(user)
    out = service.rules(session)
    _log(session, request, user, "ioc.rules", "rules")
    return out


@api.put("/rules/{code}", response_model=RuleOut)
def update_rule(request: Request, code: str, data: RuleIn, session: DbSession, user: CurrentUser):
    access.require_rule_editor(user)
    row = service.update_rule(session, user, code[:32], data.threshold, data.enabled, client_ip(request))
    session.commit()
    return row


@api.get("/export.xlsx")
def export_xlsx(request: Request, session: DbSession, user: CurrentUser):
    """The report in the MOET statistical form layout (Excel)."""
    schools = access.visible_schools(user)
    settings = request.app.state.settings
    unit = "Sở Giáo dục và Đào tạo" if schools is None else access.get_school(session, user,
                                                                              next(iter(schools))).name
    data = export.province_report(session, schools, unit, local_today(settings.timezone))
    _log(session, request, user, "ioc.export", "report")
    return Response(data, media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="bao-cao-thong-ke-thpt.xlsx"'})


@api.get("/public", response_model=PublicOut)
def public(request: Request, session: DbSession):
    """Anyone: aggregates only, counts of fewer than 5 students suppressed (null)."""
    return service.public_view(session, ioc_settings(request))


router.include_router(api)
