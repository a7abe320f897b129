"""CSRF protection, once for every module: a token tied to the browser's session, checked on unsafe methods.

The token is HMAC-SHA256 keyed by a secret the browser holds in an HttpOnly cookie: the session cookie when one is
present (signed-in people), otherwise an anonymous random cookie (``Settings.csrf_cookie_name``) that the app sets
the first time it renders a form (public admissions forms, the login form: login CSRF). An attacker can neither read
those cookies nor compute the token without them, and a token is worthless for any other session. Nothing has to
be configured or shared between worker processes.

Rules (`verify_csrf`, added to every module's router by `app.create_app`):
- GET/HEAD/OPTIONS/TRACE are never checked (they must not change state);
- a request carrying ``Authorization: Bearer …`` is exempt: API clients, edge agents and the ingest have no
  ambient credentials a browser would attach on its own;
- a request without a session cookie is exempt when it goes to ``/api/...`` (anonymous API call: nothing to forge,
  no form of ours posts there) or when its body is not of a type a cross-site HTML form can send (e.g. OCSP and
  time-stamp requests: a browser would need a CORS preflight, which this app never grants);
- an endpoint decorated with `csrf_exempt` (only read-only machine protocols, e.g. OAI-PMH harvesting by POST);
- everything else (cookie-authenticated requests, and every page form, signed in or not) must send the token in
  the form field ``csrf_token`` or the header ``X-CSRF-Token``, else 403 with a Vietnamese message.

Templates put the token in forms with ``{{ csrf_field() }}``; scripts can read ``{{ csrf_token() }}``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from http.cookies import SimpleCookie

from fastapi import HTTPException, Request
from jinja2 import pass_context
from markupsafe import Markup, escape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SIMPLE_TYPES = frozenset({*FORM_TYPES, "text/plain"})  # what a cross-site <form> can send without a preflight
FAILED = ("Yêu cầu bị từ chối vì thiếu hoặc sai mã bảo vệ biểu mẫu (CSRF). "
          "Vui lòng tải lại trang rồi gửi lại biểu mẫu.")
_NEW_SEED = "csrf_new_seed"  # request.state key: an anonymous seed created while rendering this response

log = logging.getLogger("central_server.csrf")


def token_for(binding: str) -> str:
    """The token for a cookie secret (session or anonymous): HMAC-SHA256(key=secret), hex."""
    return hmac.new(binding.encode("utf-8"), b"central-server-csrf-v1", hashlib.sha256).hexdigest()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _has_bearer(request: Request) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


def _binding(request: Request) -> str | None:
    """The cookie secret the token of this request is tied to: the session cookie, else the anonymous one."""
    settings = _settings(request)
    session = request.cookies.get(settings.session_cookie_name)
    if session:
        return "s:" + session
    anon = request.cookies.get(settings.csrf_cookie_name)
    if anon:
        return "a:" + anon
    return None


def csrf_token(request: Request) -> str:
    """The token to embed in a page rendered for `request` (creates the anonymous cookie when needed)."""
    binding = _binding(request)
    if binding is None:
        seed = getattr(request.state, _NEW_SEED, None)
        if seed is None:
            seed = secrets.token_urlsafe(32)
            setattr(request.state, _NEW_SEED, seed)  # CsrfCookieMiddleware sets it on the response
        binding = "a:" + seed
    return token_for(binding)


def csrf_exempt(endpoint):
    """Mark an endpoint as exempt (a read-only machine protocol that must accept POST from anyone)."""
    endpoint.__csrf_exempt__ = True
    return endpoint


def _is_exempt(request: Request) -> bool:
    route = request.scope.get("route")
    for endpoint in (request.scope.get("endpoint"), getattr(route, "endpoint", None)):
        if getattr(endpoint, "__csrf_exempt__", False):
            return True
    return False


async def verify_csrf(request: Request) -> None:
    """Dependency on every module's routes: 403 when an unsafe request lacks the right token."""
    if request.method in SAFE_METHODS or _has_bearer(request) or _is_exempt(request):
        return
    settings = _settings(request)
    if not request.cookies.get(settings.session_cookie_name):
        if request.url.path.startswith("/api/"):
            return
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and ctype not in SIMPLE_TYPES:
            return  # e.g. OCSP/TSA requests: a browser cannot send this cross-site without a CORS preflight
    sent = request.headers.get(HEADER)
    if not sent and request.headers.get("content-type", "").lower().startswith(FORM_TYPES):
        try:
            form = await request.form()  # parsed once: FastAPI has usually parsed it already (cached)
        except Exception:  # malformed body: refuse cleanly, never a 500
            form = None
        value = form.get(FIELD) if form is not None else None
        sent = value if isinstance(value, str) else None
    binding = _binding(request)
    # compare bytes: compare_digest refuses non-ASCII str (a hostile token must give 403, not 500)
    if not sent or binding is None or not hmac.compare_digest(sent.strip().encode("utf-8"),
                                                              token_for(binding).encode("ascii")):
        log.warning("csrf rejected", extra={"path": request.url.path, "method": request.method,
                                             "reason": "missing" if not sent else "mismatch"})
        raise HTTPException(403, FAILED)


class CsrfCookieMiddleware:
    """Sets the anonymous CSRF cookie on a response whose page created one (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get(_NEW_SEED):
                cookie: SimpleCookie = SimpleCookie()
                name = self.settings.csrf_cookie_name
                cookie[name] = state[_NEW_SEED]
                cookie[name]["path"] = "/"
                cookie[name]["httponly"] = True
                cookie[name]["samesite"] = "Lax"
                if self.settings.cookie_secure:
                    cookie[name]["secure"] = True
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", cookie.output(header="").strip().encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, _send)


@pass_context
def _csrf_token_global(context) -> str:
    return csrf_token(context["request"])


@pass_context
def _csrf_field_global(context) -> Markup:
    token = csrf_token(context["request"])
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(token)}">')


def install_template_globals(env) -> None:
    env.globals["csrf_token"] = _csrf_token_global
    env.globals["csrf_field"] = _csrf_field_global
