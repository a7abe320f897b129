"""Public pages for applicants and parents (Vietnamese): register, edit, receipt, verify, ratios, lookup."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.auth import client_ip
from central_server.core.db import get_session, utcnow
from central_server.core.templating import templates

from .lookup import LIMITED, NOT_FOUND
from .receipt import receipt_pdf
from .schemas import FIELD_LABELS, ApplicationForm
from .service import AdmissionsError, active_plan, applicant_login, ratios, register, update_application, window
from .tables import AdmApplication

router = APIRouter()
DB = Annotated[Session, Depends(get_session)]
KHMER = {"Họ và tên": "ឈ្មោះ", "Ngày sinh": "ថ្ងៃខែឆ្នាំកំណើត", "Nguyện vọng": "ជម្រើស", "Đăng ký": "ចុះឈ្មោះ"}


def now(request: Request) -> dt.datetime:
    clock = getattr(request.app.state, "admissions_clock", None)
    return clock() if clock else utcnow()


def page(request: Request, name: str, ctx: dict, status: int = 200):
    return templates.TemplateResponse(request, f"admissions/{name}", {"user": None, "km": KHMER, **ctx},
                                      status_code=status)


async def read_form(request: Request, settings) -> tuple[dict, list[tuple[str, str, str, bytes]]]:
    form = await request.form()
    files = []
    for kind in ("priority", "prize", "direct", "dtnt"):
        for up in form.getlist(f"ev_{kind}"):
            if getattr(up, "filename", None):
                data = await up.read(settings.max_evidence_bytes + 1)
                files.append((kind, up.filename, up.content_type or "", data))
    data = {k: form.get(k, "") for k in ("personal_id", "full_name", "dob", "gender", "ethnicity", "phone",
                                         "lower_secondary", "commune")}
    data["residence_months"] = form.get("residence_months") or 0
    data["priority"] = [v for v in form.getlist("priority") if v]
    data["prizes"] = [v for v in form.getlist("prizes") if v]
    data["direct_group"] = form.get("direct_group", "")
    data["dtnt_request"] = form.get("dtnt_request") == "1"
    data["aspirations"] = [form.get(f"nv{k}", "") for k in range(1, 11) if form.get(f"nv{k}")]
    data["specialised"] = [v for v in form.getlist("specialised") if v]
    return data, files


def parse_form(data: dict) -> ApplicationForm:
    try:
        return ApplicationForm.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            msgs.append(f"{FIELD_LABELS.get(field, field)}: không hợp lệ.")
        raise AdmissionsError(msgs) from None


@router.get("/tuyen-sinh", response_class=HTMLResponse)
def index(request: Request, session: DB):
    try:
        _, plan = active_plan(session)
    except AdmissionsError as exc:
        return page(request, "public_index.html", {"plan": None, "errors": exc.messages})
    return page(request, "public_index.html", {"plan": plan, "window": window(plan, now(request))})


@router.get("/tuyen-sinh/dang-ky", response_class=HTMLResponse)
def register_form(request: Request, session: DB):
    _, plan = active_plan(session)
    return page(request, "register.html", {"plan": plan, "form": {}, "mode": "new",
                                           "open": window(plan, now(request)) == "registration"})


@router.post("/tuyen-sinh/dang-ky", response_class=HTMLResponse)
async def register_submit(request: Request, session: DB):
    _, plan = active_plan(session)
    settings = request.app.state.adm_settings
    data, files = await read_form(request, settings)
    try:
        app, code = register(session, settings, plan, parse_form(data), files, now(request), ip=client_ip(request))
        session.commit()
    except AdmissionsError as exc:
        session.rollback()
        return page(request, "register.html", {"plan": plan, "form": data, "mode": "new", "open": True,
                                               "errors": exc.messages}, 422)
    return page(request, "registered.html", {"plan": plan, "app": app, "code": code})


@router.get("/tuyen-sinh/ho-so", response_class=HTMLResponse)
def edit_login(request: Request):
    return page(request, "edit_login.html", {})


@router.post("/tuyen-sinh/ho-so", response_class=HTMLResponse)
async def edit_open(request: Request, session: DB):
    _, plan = active_plan(session)
    form = await request.form()
    try:
        app = applicant_login(session, request.app.state.adm_settings, plan.year,
                                  str(form.get("personal_id", "")), str(form.get("code", "")), client_ip(request))
    except AdmissionsError as exc:
        return page(request, "edit_login.html", {"errors": exc.messages}, 403)
    data = {c.name: getattr(app, c.name) for c in AdmApplication.__table__.columns}
    data["dob"] = app.dob.isoformat()
    return page(request, "register.html", {"plan": plan, "form": data, "mode": "edit", "code": form.get("code"),
                                           "open": window(plan, now(request)) in ("registration", "change")})


@router.post("/tuyen-sinh/ho-so/luu", response_class=HTMLResponse)
async def edit_save(request: Request, session: DB):
    _, plan = active_plan(session)
    settings = request.app.state.adm_settings
    data, files = await read_form(request, settings)
    code = str((await request.form()).get("code", ""))
    try:
        app = applicant_login(session, settings, plan.year, data["personal_id"], code, client_ip(request))
        update_application(session, settings, plan, app, parse_form(data), files, now(request),
                           ip=client_ip(request))
        session.commit()
    except AdmissionsError as exc:
        session.rollback()
        return page(request, "register.html", {"plan": plan, "form": data, "mode": "edit", "code": code,
                                               "open": True, "errors": exc.messages}, 422)
    return page(request, "registered.html", {"plan": plan, "app": app, "code": code, "updated": True})


@router.post("/tuyen-sinh/bien-nhan")
async def receipt(request: Request, session: DB):
    _, plan = active_plan(session)
    form = await request.form()
    try:
        app = applicant_login(session, request.app.state.adm_settings, plan.year,
                                  str(form.get("personal_id", "")), str(form.get("code", "")), client_ip(request))
    except AdmissionsError as exc:
        return page(request, "edit_login.html", {"errors": exc.messages}, 403)
    pdf = receipt_pdf(plan, app, request.app.state.adm_settings.public_base_url)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="bien-nhan-{app.receipt_code[:8]}.pdf"'})


@router.get("/tuyen-sinh/xac-minh/{code}", response_class=HTMLResponse)
def verify(request: Request, code: str, session: DB):
    app = session.scalars(select(AdmApplication).where(AdmApplication.receipt_code == code[:32])).first()
    _, plan = active_plan(session)
    return page(request, "verify.html", {"app": app, "plan": plan, "names": {s.code: s.name for s in plan.schools}},
                200 if app else 404)


@router.get("/tuyen-sinh/ty-le", response_class=HTMLResponse)
def ratio_page(request: Request, session: DB):
    _, plan = active_plan(session)
    visible = now(request) >= plan.dates.change_open
    return page(request, "ratios.html", {"plan": plan, "rows": ratios(session, plan) if visible else [],
                                         "visible": visible})


def _lookup(request: Request, candidate_no: str, personal_id: str, dob_text: str) -> tuple[int, dict | None, str]:
    limiter, cache = request.app.state.adm_limiter, request.app.state.adm_cache
    key = client_ip(request)
    if not limiter.allow(key):
        return 429, None, LIMITED
    if not cache.published():
        return 404, None, "Kết quả tuyển sinh chưa được công bố."
    try:
        dob = dt.date.fromisoformat(dob_text) if dob_text else None
    except ValueError:
        dob = None
    result = cache.find(candidate_no[:16], personal_id[:12], dob) if candidate_no else None
    if result is None:
        limiter.failed(key)
        return 404, None, NOT_FOUND
    return 200, result, ""


@router.get("/tuyen-sinh/tra-cuu", response_class=HTMLResponse)
def lookup_form(request: Request):
    return page(request, "lookup.html", {})


@router.post("/tuyen-sinh/tra-cuu", response_class=HTMLResponse)
async def lookup_submit(request: Request):
    form = await request.form()
    status, result, error = _lookup(request, str(form.get("candidate_no", "")), str(form.get("personal_id", "")),
                                    str(form.get("dob", "")))
    return page(request, "lookup.html", {"result": result, "error": error}, status)


@router.post("/api/admissions/lookup")
async def lookup_api(request: Request):
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"detail": NOT_FOUND}, status_code=404)
    status, result, error = _lookup(request, str(body.get("candidate_no", "")), str(body.get("personal_id", "")),
                                    str(body.get("dob", "")))
    return JSONResponse(result if result else {"detail": error}, status_code=status,
                        headers={"Cache-Control": "no-store"})
