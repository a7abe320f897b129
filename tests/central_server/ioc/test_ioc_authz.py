"""Authorisation matrix of every IOC endpoint and page (two schools, every role, anonymous), the public view's
small-cell suppression, and the MOET-layout export."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from central_server.core.tables import AuditLog
from central_server.ioc.tables import IocAlert

ROLES = ["province_admin", "province_staff", "school_admin", "school_admin_b", "teacher"]
PROVINCE = {"province_admin", "province_staff"}
VIEWERS = PROVINCE | {"school_admin", "school_admin_b"}


def _alert(db, school_id: int, tag: str) -> int:
    row = IocAlert(rule_code="edge_offline", school_id=school_id, subject=f"school:{school_id}", dedup_key=tag,
                   open_key=tag, state="open", message="Máy trạm mất kết nối.", value=12)
    db.add(row)
    db.commit()
    return row.id


def _endpoints(w, db, role):
    a, b = w["a"].id, w["b"].id
    return {
        "overview": ("GET", "/api/ioc/overview", VIEWERS),
        "school_a": ("GET", f"/api/ioc/schools/{a}", PROVINCE | {"school_admin"}),
        "school_b": ("GET", f"/api/ioc/schools/{b}", PROVINCE | {"school_admin_b"}),
        "fleet": ("GET", "/api/ioc/fleet", VIEWERS),
        "alerts": ("GET", "/api/ioc/alerts", VIEWERS),
        "rules": ("GET", "/api/ioc/rules", VIEWERS),
        "export": ("GET", "/api/ioc/export.xlsx", VIEWERS),
        "public": ("GET", "/api/ioc/public", set(ROLES)),
        "rule_put": ("PUT", "/api/ioc/rules/edge_offline", {"province_admin"}),
        "ack_a": ("POST", f"/api/ioc/alerts/{_alert(db, a, f'a-ack-{role}')}/ack", PROVINCE | {"school_admin"}),
        "resolve_a": ("POST", f"/api/ioc/alerts/{_alert(db, a, f'a-res-{role}')}/resolve", PROVINCE | {"school_admin"}),
        "ack_b": ("POST", f"/api/ioc/alerts/{_alert(db, b, f'b-ack-{role}')}/ack", PROVINCE | {"school_admin_b"}),
        "page_overview": ("PAGE", "/ioc", VIEWERS),
        "page_school_a": ("PAGE", f"/ioc/schools/{a}", PROVINCE | {"school_admin"}),
        "page_school_b": ("PAGE", f"/ioc/schools/{b}", PROVINCE | {"school_admin_b"}),
        "page_alerts": ("PAGE", "/ioc/alerts", VIEWERS),
        "page_rules": ("PAGE", "/ioc/rules", VIEWERS),
        "page_public": ("PAGE", "/ioc/public", set(ROLES)),
        "form_ack_b": ("FORM", f"/ioc/alerts/{_alert(db, b, f'b-form-{role}')}/ack", PROVINCE | {"school_admin_b"}),
        "form_rule": ("FORM", "/ioc/rules/edge_offline", {"province_admin"}),
    }


def _call(client, method, url, headers):
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "PUT":
        return client.put(url, headers=headers, json={"threshold": 15, "enabled": True})
    if method == "POST":
        return client.post(url, headers=headers, json={"note": "Đã liên hệ trường"})
    if method == "FORM":
        return client.post(url, data={"note": "Đã liên hệ", "threshold": "15", "enabled": "on"},
                           headers={"accept": "text/html"}, follow_redirects=False)
    return client.get(url, headers={"accept": "text/html"}, follow_redirects=False)


def test_authorisation_matrix(world, db, client, bearer_for, client_for, run_tick):
    run_tick()
    users = world["users"]
    failures = []
    for role in ROLES:
        headers = bearer_for(users[role])
        browser = client_for(users[role])
        for name, (method, url, allowed) in _endpoints(world, db, role).items():
            r = _call(browser if method in ("PAGE", "FORM") else client, method, url,
                      headers if method not in ("PAGE", "FORM") else {})
            ok = r.status_code in (200, 303)
            if ok != (role in allowed) or (not ok and r.status_code != 403):
                failures.append((name, role, r.status_code))
            if method == "PAGE" and not ok:
                assert "Không có quyền" in r.text
    assert failures == []
    # anonymous: 401 on the API, the sign-in page for pages; the public view is open to all
    for name, (method, url, _) in _endpoints(world, db, "anon").items():
        r = _call(client, method, url, {})
        if "public" in name:
            assert r.status_code == 200, name
        elif method in ("GET", "PUT", "POST"):
            assert r.status_code in (401, 403), (name, r.status_code)
        else:  # pages and forms
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), name
    assert db.scalar(select(IocAlert.id).where(IocAlert.dedup_key.like("%-anon"), IocAlert.state != "open")) is None


def test_reads_are_audited_and_scoped(world, db, client_for, run_tick, apply, ev):
    a, b, s = world["a"], world["b"], world["students"]
    apply(ev(a.code, s[0].personal_id, world["today"], "K"), ev(b.code, s[12].personal_id, world["today"], "P"))
    run_tick()
    admin_b = client_for(world["users"]["school_admin_b"])
    body = admin_b.get("/api/ioc/overview").json()
    assert body["scope"] == f"S{b.id}" and [x["code"] for x in body["schools"]] == [b.code]
    assert {t["key"]: t["value"] for t in body["tiles"]}["p_rate_day"] == 1.0
    assert "schools" not in {t["key"] for t in body["tiles"]}  # province-only tiles stay at the province
    apply(ev(b.code, s[13].personal_id, world["today"], "present"))
    run_tick(full=False)  # a new fact: what a worker computed from the old tiles is not served again
    body = admin_b.get("/api/ioc/overview").json()
    assert {t["key"]: t["value"] for t in body["tiles"]}["p_rate_day"] == 0.5
    assert [f["code"] for f in admin_b.get("/api/ioc/fleet").json()] == [b.code]
    school_a = client_for(world["users"]["school_admin"]).get(f"/api/ioc/schools/{a.id}").json()
    assert [(c["code"], c["students"]) for c in school_a["classes"]] == [("10A1", 6), ("10A2", 6)]
    assert school_a["classes"][0]["k_rate_week"] == 1.0 and school_a["classes"][1]["rate_week"] is None
    staff = client_for(world["users"]["province_staff"]).get("/api/ioc/overview").json()
    assert staff["scope"] == "P" and {x["code"] for x in staff["schools"]} == {a.code, b.code}
    rows = db.scalars(select(AuditLog).where(AuditLog.action.in_(("ioc.overview", "ioc.fleet")),
                                             AuditLog.actor_name != "admin_a")
                      .order_by(AuditLog.id)).all()
    assert [(r.actor_name, r.action, r.target) for r in rows] == [
        ("admin_b", "ioc.overview", f"S{b.id}"), ("admin_b", "ioc.overview", f"S{b.id}"),
        ("admin_b", "ioc.fleet", "schools"), ("so_canbo", "ioc.overview", "P")]


def test_public_view_suppresses_small_cells(world, client, run_tick, apply, ev):
    a, b, s = world["a"], world["b"], world["students"]
    day = world["today"]
    apply(*[ev(a.code, st.personal_id, day, "present") for st in s[:12]],
          *[ev(b.code, st.personal_id, day, "K") for st in s[12:]])
    run_tick()
    body = client.get("/api/ioc/public").json()
    rows = {r["code"]: r for r in body["schools"]}
    assert body["min_cell"] == 5
    assert rows[a.code]["students"] == 12 and rows[a.code]["rate_week"] == 1.0
    assert rows[b.code]["students"] is None and rows[b.code]["rate_week"] is None  # 4 students: hidden
    assert set(rows[b.code]["suppressed"]) >= {"students", "rate_week", "k_rate_week"}
    assert body["province"]["students"] == 16
    text = " ".join(str(v) for r in body["schools"] for v in r.values())
    assert all(st.full_name not in text and st.personal_id not in text for st in s)
    page = client.get("/ioc/public", headers={"accept": "text/html"}).text
    assert "&lt;5" in page and "Học Sinh" not in page


def test_export_in_moet_layout(world, client_for, run_tick, apply, ev):
    a, s = world["a"], world["students"]
    apply(*[ev(a.code, st.personal_id, world["today"], "present") for st in s[:12]])
    run_tick()
    r = client_for(world["users"]["province_staff"]).get("/api/ioc/export.xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws["A1"].value == "SỞ GIÁO DỤC VÀ ĐÀO TẠO" and ws["H1"].value == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert ws["A4"].value == "BÁO CÁO THỐNG KÊ GIÁO DỤC TRUNG HỌC PHỔ THÔNG"
    assert [ws.cell(8, i).value for i in (1, 2, 3)] == ["(1)", "(2)", "(3)"]
    rows = {ws.cell(r, 2).value: [ws.cell(r, c).value for c in range(1, 15)] for r in range(9, 12)}
    assert rows[a.code][3:8] == [2, 12, 6.0, 1, 100.0]  # classes, students, per class, teachers, rate %
    total = [ws.cell(11, c).value for c in range(1, 15)]
    assert total[2] == "Tổng cộng" and total[4] == 16
    r = client_for(world["users"]["school_admin_b"]).get("/api/ioc/export.xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.cell(9, 2).value == world["b"].code and ws.cell(10, 3).value == "Tổng cộng"


def test_export_keeps_odd_names_inert(world, db, client_for, run_tick):
    world["a"].name = "=HYPERLINK(\"http://x\")\x04"
    db.commit()
    run_tick()
    r = client_for(world["users"]["province_staff"]).get("/api/ioc/export.xlsx")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.cell(9, 3).value == "'=HYPERLINK(\"http://x\")"
