"""IOC web pages (Vietnamese): the province grid of schools, a school's drill-down, alerts, rules, public view."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.auth import client_ip, current_user
from central_server.core.db import get_session
from central_server.core.params import RowId as Id
from central_server.core.tables import User
from central_server.core.templating import templates

from . import access, service
from .catalogue import BY_KEY, PUBLIC_KEYS
from .rules import BY_CODE
from .svg import line_chart, sparkline
from .tiles import PROVINCE, scope_of

router = APIRouter(include_in_schema=False)
DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
STATE_LABELS = {"green": "Bình thường", "amber": "Cần chú ý", "red": "Cảnh báo", "grey": "Chưa có dữ liệu"}


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value * 100:.1f}%".replace(".", ",")
    if kind == "dec":
        return f"{value:.1f}".replace(".", ",")
    return f"{int(value):,}".replace(",", ".")


def _series(tile: dict | None) -> list:
    return [(p["week"], p["value"]) for p in tile["trend"]] if tile else []


def _decorate(tiles: list[dict]) -> list[dict]:
    for t in tiles:
        t["text"] = fmt(t["value"], t["fmt"])
        t["spark"] = Markup(sparkline(_series(t), pct=t["fmt"] == "pct"))
        t["target"] = (t["detail"] or {}).get("target")
    return tiles


def _groups(tiles: list[dict]) -> list[tuple[str, list[dict]]]:
    out: dict[str, list[dict]] = {}
    for t in tiles:
        out.setdefault(t["group"], []).append(t)
    return list(out.items())


def _page(request: Request, name: str, context: dict, status: int = 200):
    context.setdefault("state_labels", STATE_LABELS)
    context.setdefault("tz", ZoneInfo(request.app.state.settings.timezone))
    return templates.TemplateResponse(request, f"ioc/{name}", context, status_code=status)


def _audit(session: Session, request: Request, user: User, action: str, target: str) -> None:
    audit(session, user, action, target, {"page": request.url.path}, ip=client_ip(request))
    session.commit()


def _trend_chart(tiles: list[dict], key: str, title: str) -> Markup:
    tile = next((t for t in tiles if t["key"] == key), None)
    return Markup(line_chart(_series(tile), pct=True, title=title))


@router.get("/ioc", response_class=HTMLResponse)
def overview_page(request: Request, user: CurrentUser, session: DbSession):
    schools = access.visible_schools(user)
    scope = PROVINCE if schools is None else scope_of(next(iter(schools)))
    tiles = _decorate(service.tiles_of(session, scope))
    grid = service.grid(session, request.app.state.settings, schools)
    _audit(session, request, user, "ioc.overview", scope)
    return _page(request, "overview.html", {
        "user": user, "groups": _groups(tiles), "grid": grid, "last_day": service.last_day(session, scope),
        "chart": _trend_chart(tiles, "rate_week", "Tỉ lệ chuyên cần theo tuần"), "province": schools is None,
        "alerts": service.alerts_of(session, schools, "active", limit=10)})


@router.get("/ioc/schools/{school_id}", response_class=HTMLResponse)
def school_page(request: Request, school_id: Id, user: CurrentUser, session: DbSession):
    school = access.get_school(session, user, school_id)
    tiles = _decorate(service.tiles_of(session, scope_of(school.id)))
    _audit(session, request, user, "ioc.school", f"school:{school_id}")
    return _page(request, "school.html", {
        "user": user, "school": school, "groups": _groups(tiles), "last_day": service.last_day(session,
                                                                                              scope_of(school.id)),
        "fleet": service.fleet(session, request.app.state.settings, [school])[0],
        "classes": service.classes_of(session, request.app.state.settings, school,
                                      service.last_day(session, scope_of(school.id))),
        "chart": _trend_chart(tiles, "rate_week", f"Chuyên cần theo tuần — {school.name}"),
        "alerts": service.alerts_of(session, {school.id}, "active", limit=50)})


@router.get("/ioc/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: CurrentUser, session: DbSession, state: str = "active"):
    if state not in ("active", "open", "acknowledged", "resolved"):
        raise HTTPException(422, "Trạng thái không hợp lệ.")
    rows = service.alerts_of(session, access.visible_schools(user), state)
    _audit(session, request, user, "ioc.alerts", "alerts")
    return _page(request, "alerts.html", {"user": user, "rows": rows, "state": state, "rules": BY_CODE,
                                          "alert_states": service.STATE_LABELS})


@router.post("/ioc/alerts/{alert_id}/ack")
def ack_form(request: Request, alert_id: Id, user: CurrentUser, session: DbSession,
             note: Annotated[str, Form(max_length=1000)] = ""):
    alert = access.get_alert(session, user, alert_id)
    service.acknowledge(session, request.app.state.ioc_settings, user, alert, note, client_ip(request))
    session.commit()
    return RedirectResponse("/ioc/alerts", status_code=303)


@router.post("/ioc/alerts/{alert_id}/resolve")
def resolve_form(request: Request, alert_id: Id, user: CurrentUser, session: DbSession,
                 note: Annotated[str, Form(max_length=1000)] = ""):
    alert = access.get_alert(session, user, alert_id)
    service.resolve(session, request.app.state.ioc_settings, user, alert, note, client_ip(request))
    session.commit()
    return RedirectResponse("/ioc/alerts?state=resolved", status_code=303)


@router.get("/ioc/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: CurrentUser, session: DbSession):
    access.require_viewer(user)
    rows = service.rules(session)
    _audit(session, request, user, "ioc.rules", "rules")
    return _page(request, "rules.html", {"user": user, "rows": rows, "editable": user.role == "province_admin"})


@router.post("/ioc/rules/{code}")
def rule_form(request: Request, code: str, user: CurrentUser, session: DbSession,
              threshold: Annotated[float, Form()], enabled: Annotated[str, Form()] = ""):
    access.require_rule_editor(user)
    service.update_rule(session, user, code[:32], threshold, enabled == "on", client_ip(request))
    session.commit()
    return RedirectResponse("/ioc/rules", status_code=303)


@router.get("/ioc/public", response_class=HTMLResponse)
def public_page(request: Request, session: DbSession):
    data = service.public_view(session, request.app.state.ioc_settings)
    cols = [(k, BY_KEY[k].label, BY_KEY[k].fmt) for k in PUBLIC_KEYS]
    return _page(request, "public.html", {"user": None, **data, "cols": cols, "fmt": fmt})
