"""Structured logging: one JSON object per line (or plain text for a console), plus an access-log middleware."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
import uuid

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request

_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


# Vietnamese personal identification numbers (12-digit CCCD / personal id, 9-digit old CMND) as they may appear
# in a message, its arguments or a traceback (e.g. an SQL error quoting a row).
_PERSONAL_ID = re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{9})(?![0-9])")


def redact(text: str) -> str:
    """`text` with every personal id replaced by a short stable hash (`pid#1a2b3c4d`): logs stay correlatable."""
    return _PERSONAL_ID.sub(lambda m: "pid#" + hashlib.sha256(m.group(0).encode()).hexdigest()[:8], text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback with personal ids hashed, before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def install_redaction(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())


def setup_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    install_redaction(handler)
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if as_json else plain)
    root = logging.getLogger("central_server")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


access_log = logging.getLogger("central_server.access")


class AccessLogMiddleware(BaseHTTPMiddleware):
    """Logs method, path, status, duration and the user id (never query strings with personal data)."""

    async def dispatch(self, request: Request, call_next):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["x-request-id"] = request_id
            return response
        finally:
            user = getattr(request.state, "user", None)
            access_log.info("request", extra={"request_id": request_id, "method": request.method,
                                              "path": request.url.path, "status": status,
                                              "ms": round((time.perf_counter() - start) * 1000, 1),
                                              "user_id": getattr(user, "id", None)})
