"""Authorisation matrix: every role against every attendance/master-data endpoint; scoping; audit of reads."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from central_server.attendance.service import apply_event
from central_server.core.clock import local_today
from central_server.core.tables import AuditLog

ROLES = ["province_admin", "province_staff", "school_admin", "school_admin_b", "teacher"]


def _endpoints(w):
    a, b = w["a"], w["b"]
    c1, c2, c3 = w["classes"]
    s = w["students"]
    return {
        # name: (method, url, roles allowed)
        "overview": ("GET", "/api/attendance/overview", set(ROLES)),
        "school_a": ("GET", f"/api/attendance/schools/{a.id}", {"province_admin", "province_staff", "school_admin",
                                                                 "teacher"}),
        "school_b": ("GET", f"/api/attendance/schools/{b.id}", {"province_admin", "province_staff",
                                                                 "school_admin_b"}),
        "class_own": ("GET", f"/api/attendance/classes/{c1.id}", {"province_admin", "province_staff", "school_admin",
                                                                   "teacher"}),
        "class_other": ("GET", f"/api/attendance/classes/{c2.id}", {"province_admin", "province_staff",
                                                                     "school_admin"}),
        "class_b": ("GET", f"/api/attendance/classes/{c3.id}", {"province_admin", "province_staff", "school_admin_b"}),
        "student_own": ("GET", f"/api/attendance/students/{s[0].id}", {"province_admin", "province_staff",
                                                                        "school_admin", "teacher"}),
        "student_other_class": ("GET", f"/api/attendance/students/{s[2].id}", {"province_admin", "province_staff",
                                                                                "school_admin"}),
        "student_b": ("GET", f"/api/attendance/students/{s[3].id}", {"province_admin", "province_staff",
                                                                      "school_admin_b"}),
        "warnings": ("GET", "/api/attendance/warnings", set(ROLES)),
        "export_class_b": ("GET", f"/api/attendance/classes/{c3.id}/export?format=csv",
                           {"province_admin", "province_staff", "school_admin_b"}),
        "md_student_b": ("GET", f"/api/masterdata/students/{s[3].id}", {"province_admin", "province_staff",
                                                                         "school_admin_b"}),
        "md_class_students_a": ("GET", f"/api/masterdata/classes/{c1.id}/students",
                                {"province_admin", "province_staff", "school_admin", "teacher"}),
        "md_classes_b": ("GET", f"/api/masterdata/schools/{b.id}/classes",
                         {"province_admin", "province_staff", "school_admin_b"}),
        "md_create_school": ("POST", "/api/masterdata/schools", {"province_admin"}),
        "audit": ("GET", "/api/audit", {"province_admin"}),
        "page_school_b": ("PAGE", f"/schools/{b.id}", {"province_admin", "province_staff", "school_admin_b"}),
        "page_student_b": ("PAGE", f"/students/{s[3].id}", {"province_admin", "province_staff", "school_admin_b"}),
        "page_class_other": ("PAGE", f"/classes/{c2.id}", {"province_admin", "province_staff", "school_admin"}),
        "page_import": ("PAGE", "/masterdata/import", {"province_admin", "school_admin", "school_admin_b"}),
    }


def test_authorisation_matrix(world, client, bearer_for, client_for):
    users = world["users"]
    headers = {role: bearer_for(users[role]) for role in ROLES}
    browsers = {role: client_for(users[role]) for role in ROLES}
    failures = []
    for n, (name, (method, url, allowed)) in enumerate(_endpoints(world).items()):
        for role in ROLES:
            if method == "GET":
                r = client.get(url, headers=headers[role])
            elif method == "POST":
                r = client.post(url, headers=headers[role], json={"code": f"9400{n:04d}{role[:3]}"[:32],
                                                                   "name": "Trường thử"})
            else:
                r = browsers[role].get(url, headers={"accept": "text/html"})
            ok = r.status_code in (200, 201)
            if ok != (role in allowed) or (not ok and r.status_code != 403):
                failures.append((name, role, r.status_code))
            if method == "PAGE" and not ok:
                assert "Không có quyền" in r.text
    assert failures == []
    # anonymous: 401 on the API, redirect to the sign-in page for pages
    for name, (method, url, _) in _endpoints(world).items():
        if method == "GET":
            assert client.get(url).status_code == 401, name
        elif method == "PAGE":
            r = client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), name


def test_lists_are_scoped(world, client, bearer_for, make_ev, db, settings):
    s = world["students"]
    day = local_today()
    for student, code in ((s[0], "94000701"), (s[2], "94000701"), (s[3], "94000702")):
        for sess in ("morning", "afternoon"):
            for i in range(16):
                apply_event(db, make_ev(code, student.personal_id, day - dt.timedelta(days=i), None, "K",
                                        session=sess, class_code="x"), settings)
    db.commit()
    names = lambda role: {r["full_name"] for r in client.get(  # noqa: E731
        "/api/attendance/warnings", headers=bearer_for(world["users"][role])).json()}
    assert names("province_staff") == {s[0].full_name, s[2].full_name, s[3].full_name}
    assert names("school_admin") == {s[0].full_name, s[2].full_name}
    assert names("school_admin_b") == {s[3].full_name}
    assert names("teacher") == {s[0].full_name}
    overview = client.get("/api/attendance/overview", headers=bearer_for(world["users"]["school_admin_b"])).json()
    assert [x["code"] for x in overview["schools"]] == ["94000702"]
    province = client.get("/api/attendance/overview", headers=bearer_for(world["users"]["province_staff"])).json()
    assert {x["code"] for x in province["schools"]} == {"94000701", "94000702"}
    assert all(x["rate_today"] == 0.0 for x in province["schools"])


def test_exports_csv_and_xlsx(world, client, bearer_for, make_ev, db, settings):
    s = world["students"][0]
    db.add(s)
    s.full_name = "=HYPERLINK(\"http://x\")"  # a formula-looking name must not become a formula
    db.commit()
    for i in range(31):
        apply_event(db, make_ev("94000701", s.personal_id, local_today() - dt.timedelta(days=i), None, "P",
                                session="morning"), settings)
    db.commit()
    h = bearer_for(world["users"]["school_admin"])
    klass = world["classes"][0]
    r = client.get(f"/api/attendance/classes/{klass.id}/export?format=csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Họ tên,Số định danh")
    assert "'=HYPERLINK" in text and ",31,30," in text
    r = client.get(f"/api/attendance/classes/{klass.id}/export?format=xlsx&term=CN", headers=h)
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "Họ tên" and any(row[5] == 31 and row[6] == 30 for row in rows[1:])
    r = client.get("/api/attendance/warnings/export?format=xlsx", headers=h)
    assert r.status_code == 200 and load_workbook(io.BytesIO(r.content)).active.max_row == 2
    r = client.get(f"/api/attendance/schools/{world['a'].id}/export?format=csv", headers=h)
    assert r.status_code == 200 and "Lớp,Sĩ số" in r.content.decode("utf-8-sig")
    assert client.get(f"/api/attendance/classes/{klass.id}/export?format=pdf", headers=h).status_code == 422


@pytest.mark.parametrize("url", [
    "/api/attendance/overview?day=1999-12-31", "/api/attendance/overview?day=2999-01-01",
    "/api/attendance/overview?day=not-a-date", "/api/attendance/classes/0", "/api/attendance/classes/99999999999",
    "/api/attendance/classes/1%20OR%201=1", "/api/attendance/students/abc", "/api/attendance/classes/1?term=HK3",
    "/api/masterdata/students/1';DROP TABLE students;--",
])
def test_bad_input_is_a_clear_4xx(world, client, bearer_for, url):
    r = client.get(url, headers=bearer_for(world["users"]["province_admin"]))
    assert r.status_code in (404, 422), (url, r.status_code)
    assert "detail" in r.json()


def test_every_read_is_audited(world, client, bearer_for, db):
    h = bearer_for(world["users"]["teacher"])
    c1 = world["classes"][0]
    s0 = world["students"][0]
    client.get(f"/api/attendance/classes/{c1.id}", headers=h)
    client.get(f"/api/attendance/students/{s0.id}", headers=h)
    client.get(f"/api/attendance/students/{world['students'][3].id}", headers=h)  # denied: not audited as a read
    rows = db.scalars(select(AuditLog).where(AuditLog.actor_name == "gv_a", AuditLog.action.like("attendance.%"))
                      .order_by(AuditLog.id)).all()
    assert [(r.action, r.target) for r in rows] == [("attendance.class", f"class:{c1.id}"),
                                                    ("attendance.student", f"student:{s0.id}")]
