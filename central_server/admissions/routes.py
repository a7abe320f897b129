"""The admissions module's routes: public pages (tuyen-sinh) and staff pages (/admissions)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException, Request

from central_server.core.templating import add_nav, templates
from central_server.core.uploads import FORM_OVERHEAD, register_body_limit

from . import pages_plan, pages_public, pages_staff
from .communes import communes
from .config import AdmissionsSettings
from .lookup import RateLimiter, ResultsCache
from .service import AdmissionsError

router = APIRouter()
router.include_router(pages_public.router)
router.include_router(pages_plan.router)  # before pages_staff: /admissions/plans/form
router.include_router(pages_staff.router)


def setup(app: FastAPI) -> None:
    settings = getattr(app.state, "adm_settings", None) or AdmissionsSettings()
    app.state.adm_settings = settings
    app.state.adm_cache = ResultsCache(settings, app.state.sessionmaker)
    app.state.adm_limiter = RateLimiter(settings.lookup_per_minute, settings.lookup_failures_per_hour)
    add_nav("/admissions", "Tuyển sinh 10", ("province_admin", "province_staff", "school_admin"))
    templates.env.globals["admission_communes"] = communes  # the registration form's list of communes
    # an application form carries up to max_evidence_files files of max_evidence_bytes (core/uploads.py)
    for path in (r"/tuyen-sinh/dang-ky", r"/tuyen-sinh/ho-so/luu", r"/admissions/assisted"):
        register_body_limit(app, path, _form_limit)

    async def refused(request: Request, exc: AdmissionsError):
        # A refusal that no page handled itself (e.g. no admission plan yet) is a 409 with its
        # Vietnamese message, shown by the core's error page; never a server error.
        return await app.exception_handlers[HTTPException](request, HTTPException(409, " ".join(exc.messages)))

    app.add_exception_handler(AdmissionsError, refused)


def _form_limit(app: FastAPI) -> int:
    s = app.state.adm_settings
    return s.max_evidence_files * s.max_evidence_bytes + FORM_OVERHEAD
