"""Structured logging: one JSON object per line (or plain text for a console), plus an access-log middleware."""

from __future__ import annotations

import json
import logging
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
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
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
