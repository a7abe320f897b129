"""Staff pages (province and school): plans, applications and sign-off, assisted registration, candidate
numbers, score import with preview, allocation runs (inspect, publish, supplementary round)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.auth import client_ip, require_roles
from central_server.core.db import get_session
from central_server.core.params import RowId
from central_server.core.templating import templates
from central_server.core.uploads import off_loop

from . import access
from . import runs as runs_svc
from .allocation import AllocationError
from .pages_public import now, parse_form, read_form
from .plan import PlanError, parse_plan
from .scores_import import read_scores
from .service import (
    REVIEW_ITEMS,
    AdmissionsError,
    active_plan,
    assign_candidate_numbers,
    commit_scores,
    dtnt_check,
    load_plan_text,
    register,
    save_plan,
    sign_off,
)
from .tables import AdmApplication, AdmEvidence, AdmPlan, AdmRun

router = APIRouter(prefix="/admissions")
DB = Annotated[Session, Depends(get_session)]
ADMIN = Depends(require_roles("province_admin"))
STAFF = Depends(require_roles(*access.PROVINCE))
REVIEWERS = Depends(require_roles(*access.REVIEWER_ROLES))


def page(request: Request, name: str, user, ctx: dict, status: int = 200):
    return templates.TemplateResponse(request, f"admissions/{name}", {"user": user, **ctx}, status_code=status)


@router.get("", response_class=HTMLResponse)
def home(request: Request, session: DB, user=REVIEWERS):
    plans = session.scalars(select(AdmPlan).order_by(AdmPlan.year.desc(), AdmPlan.version.desc())).all()
    runs = session.scalars(select(AdmRun).order_by(AdmRun.id.desc())).all()
    return page(request, "staff_home.html", user, {"plans": plans, "runs": runs})


@router.post("/plans", response_class=HTMLResponse)
async def upload_plan(request: Request, session: DB, user=ADMIN):
    form = await request.form()
    try:
        document, note = str(form.get("document", "")), str(form.get("note", ""))
        row = await off_loop(lambda: save_plan(session, user, load_plan_text(document), note=note))
        session.commit()
    except PlanError as exc:
        session.rollback()
        plans = session.scalars(select(AdmPlan).order_by(AdmPlan.id.desc())).all()
        return page(request, "staff_home.html", user, {"plans": plans, "runs": [], "errors": exc.errors}, 422)
    return RedirectResponse(f"/admissions?plan={row.id}", status_code=303)


@router.get("/plans/{plan_id}.json")
def plan_json(plan_id: RowId, session: DB, user=REVIEWERS):
    row = session.get(AdmPlan, plan_id) or _404()
    return row.document


def _404():
    raise HTTPException(404, "Không tìm thấy.")


@router.get("/applications", response_class=HTMLResponse)
def applications(request: Request, session: DB, user=REVIEWERS, q: str = ""):
    stmt = select(AdmApplication).order_by(AdmApplication.id).limit(200)
    scope = access.scope_filter(session, user)
    if scope is not None:
        stmt = stmt.where(scope)
    if q:
        stmt = stmt.where((AdmApplication.personal_id == q) | (AdmApplication.candidate_no == q)
                          | AdmApplication.full_name.ilike(f"%{q}%"))
    return page(request, "staff_applications.html", user, {"apps": session.scalars(stmt).all(), "q": q})


@router.get("/applications/{app_id}", response_class=HTMLResponse)
def application(request: Request, app_id: RowId, session: DB, user=REVIEWERS):
    app = access.check_application(session, user, session.get(AdmApplication, app_id) or _404())
    _, plan = active_plan(session, app.year)
    evidence = session.execute(select(AdmEvidence.id, AdmEvidence.kind, AdmEvidence.filename, AdmEvidence.size)
                               .where(AdmEvidence.application_id == app.id)).all()
    return page(request, "staff_application.html", user, {
        "app": app, "plan": plan, "evidence": evidence, "items": REVIEW_ITEMS,
        "dtnt_problems": dtnt_check(plan, app) if app.dtnt_request else []})


@router.post("/applications/{app_id}/review")
async def review(request: Request, app_id: RowId, session: DB, user=REVIEWERS):
    app = access.check_application(session, user, session.get(AdmApplication, app_id) or _404())
    form = await request.form()
    try:
        sign_off(session, user, app, str(form.get("item", "")), form.get("ok") == "1", str(form.get("note", "")))
    except AdmissionsError as exc:
        raise HTTPException(422, exc.messages[0]) from None
    session.commit()
    return RedirectResponse(f"/admissions/applications/{app_id}", status_code=303)


@router.get("/evidence/{ev_id}")
def evidence(ev_id: RowId, session: DB, user=REVIEWERS):
    ev = session.get(AdmEvidence, ev_id) or _404()
    access.check_application(session, user, session.get(AdmApplication, ev.application_id))
    return Response(ev.data, media_type=ev.content_type,
                    headers={"Content-Disposition": f'attachment; filename="evidence-{ev.id}"'})


@router.get("/assisted", response_class=HTMLResponse)
def assisted_form(request: Request, session: DB, user=REVIEWERS):
    _, plan = active_plan(session)
    return page(request, "register.html", user, {"plan": plan, "form": {}, "mode": "assisted", "open": True,
                                                 "km": {}})


@router.post("/assisted", response_class=HTMLResponse)
async def assisted_submit(request: Request, session: DB, user=REVIEWERS):
    _, plan = active_plan(session)
    settings = request.app.state.adm_settings
    data, files = await read_form(request, settings)
    try:
        app, code = register(session, settings, plan, parse_form(data), files, now(request), actor=user,
                             ip=client_ip(request))
        session.commit()
    except AdmissionsError as exc:
        session.rollback()
        return page(request, "register.html", user, {"plan": plan, "form": data, "mode": "assisted", "open": True,
                                                     "errors": exc.messages, "km": {}}, 422)
    return page(request, "registered.html", user, {"plan": plan, "app": app, "code": code, "km": {}})


@router.post("/candidate-numbers")
def candidate_numbers(session: DB, user=STAFF):
    row, plan = active_plan(session)
    assign_candidate_numbers(session, user, plan.year)
    session.commit()
    return RedirectResponse("/admissions", status_code=303)


@router.get("/scores", response_class=HTMLResponse)
def scores_form(request: Request, user=STAFF):
    return page(request, "staff_scores.html", user, {})


@router.post("/scores", response_class=HTMLResponse)
async def scores_upload(request: Request, session: DB, user=STAFF):
    _, plan = active_plan(session)
    form = await request.form()
    up = form.get("file")
    data = await up.read(request.app.state.settings.max_upload_bytes + 1) if getattr(up, "filename", None) else b""
    known = set(session.scalars(select(AdmApplication.candidate_no).where(
        AdmApplication.year == plan.year, AdmApplication.candidate_no.is_not(None))))
    preview = await off_loop(read_scores, plan, data, known)
    ctx = {"preview": preview, "plan": plan}
    if form.get("confirm") == "1" and preview.ok:
        ctx["changed"] = commit_scores(session, user, plan.year, preview, remark=form.get("remark") == "1")
        session.commit()
    return page(request, "staff_scores.html", user, ctx, 200 if preview.ok else 422)


@router.post("/runs")
async def new_run(request: Request, session: DB, user=ADMIN):
    form = await request.form()
    row, _ = active_plan(session)
    try:
        run = runs_svc.run_allocation(session, user, row, mode=str(form.get("mode", "rule")))
    except AllocationError as exc:  # applications name a school the active plan no longer lists, ...
        session.rollback()
        raise HTTPException(409, f"Không thể xét tuyển với kế hoạch hiện hành: {exc}") from None
    session.commit()
    return RedirectResponse(f"/admissions/runs/{run.id}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def show_run(request: Request, run_id: RowId, session: DB, user=STAFF):
    run = session.get(AdmRun, run_id) or _404()
    plan = parse_plan(session.get(AdmPlan, run.plan_id).document)
    units = runs_svc.inspect(session, run, plan) if run.kind == "main" else []
    return page(request, "staff_run.html", user, {"run": run, "units": units})


@router.post("/runs/{run_id}/publish", response_class=HTMLResponse)
def publish_run(request: Request, run_id: RowId, session: DB, user=ADMIN):
    run = session.get(AdmRun, run_id) or _404()
    try:
        runs_svc.publish(session, request.app.state.adm_settings, user, run, now(request))
        session.commit()
        request.app.state.adm_cache.invalidate()
    except AdmissionsError as exc:
        session.rollback()
        raise HTTPException(409, exc.messages[0]) from None
    return RedirectResponse(f"/admissions/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/supplementary")
def supplementary_run(request: Request, run_id: RowId, session: DB, user=ADMIN):
    run = session.get(AdmRun, run_id) or _404()
    try:
        new = runs_svc.supplementary(session, request.app.state.adm_settings, user, run)
        session.commit()
    except AdmissionsError as exc:
        session.rollback()
        raise HTTPException(409, exc.messages[0]) from None
    return RedirectResponse(f"/admissions/runs/{new.id}", status_code=303)
