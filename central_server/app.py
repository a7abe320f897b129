"""The application factory: settings, database, logging, error pages, and every module's router."""

from __future__ import annotations

import logging
from types import ModuleType
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import MetaData
from sqlalchemy.exc import DataError

from .admissions import routes as admissions_routes
from .attendance import routes as attendance_routes
from .control import routes as control_routes
from .control.metrics import ControlBacklogCollector
from .core import input_guard, metrics, passwords, secrets_check
from .core import routes as core_routes
from .core.auth import NotAuthenticated
from .core.config import Settings, get_settings
from .core.csrf import CsrfCookieMiddleware, verify_csrf
from .core.db import Base, make_engine, make_sessionmaker
from .core.input_guard import InvalidInput
from .core.logging import AccessLogMiddleware, setup_logging
from .core.templating import STATIC_DIR, templates
from .core.uploads import BodyLimitMiddleware, UploadRejected
from .ingest import routes as ingest_routes
from .ingest.metrics import EdgeStatusCollector
from .ioc import routes as ioc_routes
from .library import routes as library_routes
from .masterdata import routes as masterdata_routes
from .signature import attendance_source
from .signature import routes as signature_routes
from .signature.service import DocumentSource, register_source

# Every module, listed explicitly (no discovery): its name (as in CENTRAL_MODULES) -> the routes.py files whose
# `router` the app includes and whose optional `setup(app)` it calls. A module's routes.py includes its pages.
# The downlink (control) is served with ingest: one deployment unit, as before it had its own package.
MODULES: dict[str, tuple[ModuleType, ...]] = {
    "core": (core_routes,),
    "masterdata": (masterdata_routes,),
    "attendance": (attendance_routes,),
    "ingest": (ingest_routes, control_routes),
    "admissions": (admissions_routes,),
    "signature": (signature_routes,),
    "library": (library_routes,),
    "ioc": (ioc_routes,),
}

log = logging.getLogger("central_server.app")


def metadata() -> MetaData:
    """`Base.metadata` with every module's tables (their routes import them above): Alembic, `create_all`."""
    return Base.metadata


def register_document_sources() -> None:
    """Where signature documents built from other modules come from (signature/service.py never imports them)."""
    register_source("attendance", DocumentSource(ensure_current=attendance_source.ensure_current,
                                                 state=attendance_source.source_state))


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging(settings.log_level, settings.log_json)
    passwords.configure(settings)
    register_document_sources()

    app = FastAPI(title="Central server — Sở GD&ĐT", version="0.1.0",
                  description="Province education platform: master data, attendance, admissions, "
                              "signatures, library, operations centre.")
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, echo=settings.db_echo)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.state.home_path = "/account"
    app.state.modules = []
    # bodies refused while streaming (core/uploads.py); innermost, so that its 413 reaches the route's handlers
    # directly (a BaseHTTPMiddleware around it would wrap the error in an ExceptionGroup)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(CsrfCookieMiddleware, settings=settings)
    app.add_middleware(AccessLogMiddleware)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, exc: NotAuthenticated):
        if _wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        if _wants_html(request) and exc.status_code in (403, 404, 409, 413, 422):
            return templates.TemplateResponse(request, "core/error.html",
                                              {"status": exc.status_code, "message": exc.detail,
                                               "user": getattr(request.state, "user", None)},
                                              status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(UploadRejected)
    async def _upload_rejected(request: Request, exc: UploadRejected):
        return await _http_error(request, HTTPException(exc.status, str(exc)))

    @app.exception_handler(InvalidInput)
    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: Exception):
        # core/input_guard.py: NUL, out-of-range numbers, over-long text; the request's session has rolled back
        message = str(exc) if isinstance(exc, InvalidInput) else input_guard.MESSAGE
        if _wants_html(request):
            return templates.TemplateResponse(request, "core/error.html",
                                              {"status": 422, "message": message,
                                               "user": getattr(request.state, "user", None)}, status_code=422)
        return JSONResponse({"detail": message}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]
        return JSONResponse({"detail": "Dữ liệu không hợp lệ.", "errors": errors}, status_code=422)

    for name, route_modules in MODULES.items():
        if settings.modules is not None and name not in settings.modules and name != "core":
            continue
        for module in route_modules:
            # Every unsafe cookie-authenticated (or page-form) request needs the CSRF token: core/csrf.py.
            app.include_router(module.router, dependencies=[Depends(verify_csrf)])
            setup = getattr(module, "setup", None)
            if callable(setup):  # optional hook: a module may set app.state entries (e.g. home_path)
                setup(app)
        app.state.modules.append(name)
    # /metrics (core/metrics.py): request and pool metrics, plus the downlink backlog and the edges' heartbeats
    # read from the database at scrape time when the ingest module is served here
    collectors = ([ControlBacklogCollector(app.state.sessionmaker), EdgeStatusCollector(app.state.sessionmaker)]
                  if "ingest" in app.state.modules else [])
    metrics.install(app, collectors)
    secrets_check.enforce(settings, secrets_check.settings_on(app.state))
    log.info("app created", extra={"modules": app.state.modules,
                                   "database": app.state.engine.url.render_as_string(hide_password=True)})
    return app
