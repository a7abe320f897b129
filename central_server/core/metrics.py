"""Prometheus metrics of the web application: request latency per route template, requests by status, the
database pool, and whatever collectors the modules add (app.py registers them); served at `/metrics`.

Names follow `<program>_<thing>_<unit>` (program `central`). Each app has its own `CollectorRegistry` and its
own request metrics, so several apps in one process (the tests) do not mix, and the scrape-time collectors
(pool, control outbox, edge status) read the app's own database. With `serve --workers N` each process
answers for itself: run one worker per port, or scrape through one process per target.

Who may scrape (`CENTRAL_METRICS_TOKEN`, `CENTRAL_METRICS_NETWORKS`):
- the client address (after core/auth.py's trusted-proxy rule) must lie in one of `metrics_networks`
  (loopback by default; put the operations network's CIDR there, e.g. the Prometheus host's); an empty list
  means any address;
- when `metrics_token` is set, the request must carry `Authorization: Bearer <token>`, compared as SHA-256
  digests in constant time; without it the answer is 401. In production the endpoint refuses every scrape
  (403) while no token is set, and a placeholder token (`change-me...`) stops the server at start
  (core/secrets_check.py).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Iterable

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from .auth import client_ip

UNMATCHED = "<unmatched>"  # requests no route matched: one label value, never the raw URL


router = APIRouter()


def route_template(scope: dict) -> str:
    """The matched route's path template (`/api/students/{student_id}`), or UNMATCHED."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetricsMiddleware:
    """Pure ASGI middleware (streamed answers are timed to their last byte)."""

    def __init__(self, app, registry: CollectorRegistry):
        self.app = app
        self.seconds = Histogram(
            "central_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
            ["method", "route"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.requests = Counter("central_http_requests_total", "HTTP requests answered, by route template and "
                                "status.", ["method", "route", "status"], registry=registry)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.seconds.labels(method, route).observe(time.perf_counter() - start)
            self.requests.labels(method, route, str(status["code"])).inc()


class PoolCollector(Collector):
    """The engine's connection pool at scrape time: checked out, its size, and the most it may open."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self.engine.pool
        size = pool.size() if hasattr(pool, "size") else 0
        out = pool.checkedout() if hasattr(pool, "checkedout") else 0
        limit = size + max(0, int(getattr(pool, "_max_overflow", 0) or 0))
        yield GaugeMetricFamily("central_db_pool_checked_out_connections",
                                "Database connections in use by requests or workers.", value=out)
        yield GaugeMetricFamily("central_db_pool_size_connections", "Connections the pool keeps open.", value=size)
        yield GaugeMetricFamily("central_db_pool_max_connections",
                                "Connections the pool may open at most (size + overflow).", value=limit)


def make_registry(engine: Engine, collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)  # collectors read the database: never at registration
    for c in (PoolCollector(engine), *collectors):
        registry.register(c)
    return registry


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def _in_networks(address: str, networks: list[str]) -> bool:
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def authorize(request: Request) -> None:
    """Raise 403 (address outside the ops networks, or no token in production) or 401 (token missing/wrong)."""
    settings = request.app.state.settings
    if not _in_networks(client_ip(request), settings.metrics_networks):
        raise HTTPException(403, "Địa chỉ này không được phép đọc số liệu giám sát (metrics).")
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token is None:
        if settings.environment == "production":
            raise HTTPException(403, "Chưa đặt CENTRAL_METRICS_TOKEN: số liệu giám sát bị tắt ở production.")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(given.strip()), _digest(token)):
        raise HTTPException(401, "Cần mã truy cập (Bearer token) hợp lệ để đọc số liệu giám sát.",
                            headers={"WWW-Authenticate": "Bearer"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    authorize(request)
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def install(app, collectors: Iterable[Collector] = ()) -> None:
    """Time every request, keep the app's registry on `app.state`, serve `/metrics`."""
    app.state.metrics_registry = make_registry(app.state.engine, collectors)
    app.add_middleware(RequestMetricsMiddleware, registry=app.state.metrics_registry)
    app.include_router(router)
