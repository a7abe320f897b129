"""`/api/ioc/v1`: one hashed token per consumer, scope, rate limit, audit of every call, OpenAPI."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from central_server.core.tables import AuditLog
from central_server.ioc.api_v1 import create_consumer
from central_server.ioc.tables import IocAlert, IocApiConsumer


def _consumer(db, name, school_id=None, rate=None):
    row, token = create_consumer(db, name, school_id, rate)
    db.commit()
    return row, {"Authorization": f"Bearer {token}"}, token


def test_tokens_scope_and_audit(world, db, client, run_tick, bearer_for, apply, ev):
    a, b = world["a"], world["b"]
    apply(ev(a.code, world["students"][0].personal_id, world["today"], "K"))
    run_tick()
    city, h_city, token = _consumer(db, "ioc-cantho")
    _, h_a, _ = _consumer(db, "truong-a", a.id)
    stored = db.scalar(select(IocApiConsumer.token_hash).where(IocApiConsumer.name == "ioc-cantho"))
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
    body = client.get("/api/ioc/v1/overview", headers=h_city).json()
    assert body["scope"] == "P" and {s["code"] for s in body["schools"]} == {a.code, b.code}
    assert {t["key"]: t["value"] for t in body["tiles"]}["k_rate_day"] == 1.0
    body = client.get("/api/ioc/v1/overview", headers=h_a).json()
    assert body["scope"] == f"S{a.id}" and [s["code"] for s in body["schools"]] == [a.code]
    assert client.get(f"/api/ioc/v1/schools/{b.id}", headers=h_a).status_code == 403
    assert client.get(f"/api/ioc/v1/schools/{b.id}", headers=h_city).json()["code"] == b.code
    assert client.get("/api/ioc/v1/schools/999999", headers=h_city).status_code == 404
    assert [f["code"] for f in client.get("/api/ioc/v1/fleet", headers=h_a).json()] == [a.code]
    # a person's own API token, a made-up token, none: refused
    for headers in (bearer_for(world["users"]["province_admin"]), {"Authorization": "Bearer ioc_forged"}, {}):
        assert client.get("/api/ioc/v1/overview", headers=headers).status_code == 401
    reads = db.scalars(select(AuditLog).where(AuditLog.action == "ioc.api.read").order_by(AuditLog.id)).all()
    assert [(r.actor_name, r.target) for r in reads] == [
        ("ioc-api:ioc-cantho", "/api/ioc/v1/overview"), ("ioc-api:truong-a", "/api/ioc/v1/overview"),
        ("ioc-api:truong-a", f"/api/ioc/v1/schools/{b.id}"), ("ioc-api:ioc-cantho", f"/api/ioc/v1/schools/{b.id}"),
        ("ioc-api:ioc-cantho", "/api/ioc/v1/schools/999999"), ("ioc-api:truong-a", "/api/ioc/v1/fleet")]
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "ioc.api.denied")) == 3
    db.refresh(city)
    assert city.last_used_at is not None
    city.active = False
    db.commit()
    assert client.get("/api/ioc/v1/overview", headers=h_city).status_code == 401


def test_rate_limit_per_consumer(world, db, client):
    _, h, _ = _consumer(db, "gioi-han", rate=3)
    _, other, _ = _consumer(db, "khac", rate=3)
    codes = [client.get("/api/ioc/v1/alerts", headers=h).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/ioc/v1/alerts", headers=h)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert client.get("/api/ioc/v1/alerts", headers=other).status_code == 200  # a limit per consumer
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "ioc.api.limited")) == 2


def test_alerts_about_students_stay_inside(world, db, client):
    a = world["a"]
    for subject, rule in ((f"school:{a.id}", "edge_offline"), ("student:1", "student_absent_30")):
        db.add(IocAlert(rule_code=rule, school_id=a.id, subject=subject, dedup_key=rule, open_key=rule,
                        state="open", message="x", value=1))
    db.commit()
    _, h, _ = _consumer(db, "ioc-tp")
    assert [x["rule_code"] for x in client.get("/api/ioc/v1/alerts", headers=h).json()] == ["edge_offline"]


def test_documented_in_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/ioc/v1/overview", "/api/ioc/v1/schools/{school_id}", "/api/ioc/v1/fleet", "/api/ioc/v1/alerts",
              "/api/ioc/overview", "/api/ioc/public"):
        assert p in paths and "get" in paths[p], p
    assert "/ioc" not in paths  # pages are not API
