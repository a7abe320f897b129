"""The central server's /metrics, scraped through the real app (SQLite and PostgreSQL) and parsed with
prometheus_client's parser: who may scrape (token, ops networks, production), request latency and counts per
route template after real requests, the database pool while a connection is held, the control outbox backlog
after a real erasure is queued, and the edges' heartbeats after a real status message is stored."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from central_server.app import create_app
from central_server.control.outbox import enqueue
from central_server.control.service import erasure_message
from central_server.core.secrets_check import DefaultSecretError
from central_server.ingest.status import store_status
from edge_agent.protocol import Heartbeat, status_topic
from tests.central_server.conftest import make_settings

TOKEN = "ops-" + "7f3a9c2e1b" * 4
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CENTRAL_FAMILIES = {"central_http_request_duration_seconds", "central_http_requests",
                    "central_db_pool_checked_out_connections", "central_db_pool_size_connections",
                    "central_db_pool_max_connections", "central_control_outbox_pending_messages",
                    "central_control_outbox_oldest_age_seconds", "central_control_outbox_backlog_messages",
                    "central_edge_last_seen_age_seconds", "central_edge_online", "central_edge_outbox_backlog_events"}


def families(text: str) -> dict:
    """{family: {(sample name, frozenset(labels)): value}}"""
    return {f.name: {(s.name, frozenset(s.labels.items())): s.value for s in f.samples}
            for f in text_string_to_metric_families(text)}


def sample(fams: dict, family: str, name: str | None = None, **labels) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in fams.get(family, {}).items() if (name is None or n == name) and want <= set(lab))


@pytest.fixture()
def settings(db_url):
    """conftest's `app` fixture, with a metrics token and no network restriction (TestClient has no address)."""
    return make_settings(db_url, metrics_token=TOKEN, metrics_networks=[])


def scrape(client: TestClient) -> dict:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return families(r.text)


def test_requests_are_counted_per_route_template(app, make_user, bearer_for):
    c = TestClient(app)
    before = scrape(c)
    assert set(CENTRAL_FAMILIES) - {"central_edge_outbox_backlog_events"} <= set(before)
    route = "/api/masterdata/schools/{school_id}"
    assert sample(before, "central_http_requests", route=route) == 0
    headers = bearer_for(make_user("so_ops", "province_admin"))
    for school_id in (7, 8, 9):  # three raw URLs, one route template
        r = c.get(f"/api/masterdata/schools/{school_id}", headers=headers)
        assert r.status_code in (403, 404), r.text
    assert c.get("/no/such/page-4711").status_code == 404
    after = scrape(c)
    assert sample(after, "central_http_requests", route=route, method="GET") == 3
    assert sample(after, "central_http_request_duration_seconds", "central_http_request_duration_seconds_count",
                  route=route) == 3
    assert sample(after, "central_http_request_duration_seconds", "central_http_request_duration_seconds_sum",
                  route=route) > 0
    assert sample(after, "central_http_requests", route="<unmatched>", status="404") >= 1
    labels = {dict(lab).get("route") for fam in after.values() for (_, lab) in fam}
    assert not any(str(x).startswith("/api/masterdata/schools/7") or "4711" in str(x) for x in labels), \
        "raw URLs never become label values"
    # the earlier scrape itself was counted under its route
    assert sample(after, "central_http_requests", route="/metrics", status="200") >= 1


def test_pool_backlog_and_edge_status_move_with_real_work(app):
    c = TestClient(app)  # no lifespan: no control dispatcher drains the outbox behind the test's back
    before = scrape(c)
    size = sample(before, "central_db_pool_size_connections")
    assert size == 10 and sample(before, "central_db_pool_max_connections") > size
    held = app.state.engine.connect()
    try:
        during = scrape(c)
    finally:
        held.close()
    assert sample(during, "central_db_pool_checked_out_connections") == \
        sample(before, "central_db_pool_checked_out_connections") + 1
    school, key = "THPT-MET", os.urandom(32)
    with app.state.sessionmaker.begin() as s:
        enqueue(s, [erasure_message(school, key, "094208000101", "req-1"),
                    erasure_message(school, key, "094208000102", "req-2")])
        hb = Heartbeat(school=school, sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30), outbox_backlog=17)
        assert store_status(s, [(status_topic(school), hb.model_dump_json().encode())]) == 1
    after = scrape(c)
    assert sample(after, "central_control_outbox_pending_messages", school=school) == 2
    assert sample(after, "central_control_outbox_backlog_messages") == sample(
        before, "central_control_outbox_backlog_messages") + 2
    assert sample(after, "central_control_outbox_oldest_age_seconds", school=school) >= 0
    assert sample(after, "central_edge_online", school=school) == 1
    assert 30 <= sample(after, "central_edge_last_seen_age_seconds", school=school) < 3600
    assert sample(after, "central_edge_outbox_backlog_events", school=school) == 17


def test_token_and_networks_protect_the_endpoint(db_url):
    app = create_app(make_settings(db_url, metrics_token=TOKEN, metrics_networks=["10.20.0.0/16"]))
    try:
        ops = TestClient(app, client=("10.20.3.4", 40000))
        r = ops.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert ops.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"}).status_code == 401
        assert ops.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401, "scheme required"
        ok = ops.get("/metrics", headers=AUTH)
        assert ok.status_code == 200 and "central_http_requests_total" in ok.text
        outsider = TestClient(app, client=("192.168.1.50", 40000))
        r = outsider.get("/metrics", headers=AUTH)
        assert r.status_code == 403 and "central_http" not in r.text, "a right token from the wrong network"
    finally:
        app.state.engine.dispose()


def test_production_needs_a_real_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    with pytest.raises(DefaultSecretError, match="CENTRAL_METRICS_TOKEN"):
        create_app(make_settings(url, environment="production", modules=["core"],
                                 metrics_token="change-me-metrics-token-0000"))
    app = create_app(make_settings(url, environment="production", modules=["core"]))
    try:
        r = TestClient(app, client=("127.0.0.1", 40000)).get("/metrics")
        assert r.status_code == 403 and "CENTRAL_METRICS_TOKEN" in r.json()["detail"]
    finally:
        app.state.engine.dispose()
    with pytest.raises(ValueError, match="not an address or CIDR"):
        make_settings(url, metrics_networks=["ops-lan"])
    with pytest.raises(ValueError, match="at least 24"):
        make_settings(url, metrics_token="short")
