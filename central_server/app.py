"""The application factory: settings, database, logging, error pages, and every module's router."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from .core import input_guard, passwords, secrets_check
from .core.auth import NotAuthenticated
from .core.config import Settings, get_settings
from .core.csrf import CsrfCookieMiddleware, verify_csrf
from .core.db import make_engine, make_sessionmaker
from .core.input_guard import InvalidInput
from .core.logging import AccessLogMiddleware, setup_logging
from .core.templating import STATIC_DIR, templates

# Each name is a package `central_server/<name>/` whose `routes.py` exposes `router`. A module that has no
# routes.py yet is skipped, so helpers building modules in parallel can list theirs early.
MODULES = ["core", "masterdata", "attendance", "ingest", "admissions", "signature", "library", "ioc"]

log = logging.getLogger("central_server.app")


def available_modules(only: list[str] | None = None) -> list[str]:
    found = []
    for name in MODULES:
        if only is not None and name not in only and name != "core":
            continue
        try:
            spec = importlib.util.find_spec(f"central_server.{name}.routes")
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found.append(name)
    return found


def import_tables(only: list[str] | None = None) -> None:
    """Import every module's tables so that `Base.metadata` is complete (Alembic, create_all)."""
    for name in MODULES:
        if only is not None and name not in only and name != "core":
            continue
        try:
            spec = importlib.util.find_spec(f"central_server.{name}.tables")
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            importlib.import_module(f"central_server.{name}.tables")


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging(settings.log_level, settings.log_json)
    passwords.configure(settings)
    import_tables(settings.modules)

    app = FastAPI(title="Central server — Sở GD&ĐT", version="0.1.0",
                  description="Province education platform: master data, attendance, admissions, "
                              "signatures, library, operations centre.")
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, echo=settings.db_echo)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.state.home_path = "/account"
    app.state.modules = []
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

    for name in available_modules(settings.modules):
        module = importlib.import_module(f"central_server.{name}.routes")
        # Every unsafe cookie-authenticated (or page-form) request needs the CSRF token: core/csrf.py.
        app.include_router(module.router, dependencies=[Depends(verify_csrf)])
        setup = getattr(module, "setup", None)
        if callable(setup):  # optional hook: a module may set app.state entries (e.g. home_path)
            setup(app)
        app.state.modules.append(name)
    secrets_check.enforce(settings, secrets_check.settings_on(app.state))
    log.info("app created", extra={"modules": app.state.modules,
                                   "database": app.state.engine.url.render_as_string(hide_password=True)})
    return app
