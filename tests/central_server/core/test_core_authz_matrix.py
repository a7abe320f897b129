"""The authorisation matrix of the whole application (issue 15 item 5): every route of every module, two schools
A and B with objects of every module in both, every role (province admin, province staff, school admin A and B,
teacher A and B, anonymous), against an expected-access table.

* Anonymous: 401 (API) or a redirect to /login (pages) on every route not marked public (the public library's
  item routes hide an unpublished item with a 404); public routes answer anonymous visitors without a 5xx.
* Each role: the roles named in a route's entry get past the gate (no 401/403, no 5xx, a GET no 404); every
  other role is refused (401/403/404), never a 2xx, a redirect or a state error that would reveal the object.
* Scoped routes are taken on school B's objects and, mirrored, on school A's: school A's users never get past
  the gate on B's objects (and B's never on A's).
* The table must name every route: a route added without an entry fails `test_every_route_has_an_entry`.

Writes are run after every read and every refusal has been checked (refusals first, so each refusal meets the
objects untouched; deletions last). Within a school, which step of a workflow a role may take (who signs which
field, who verifies a record) is in each module's own tests; here a write's entry names the roles that get past
its scope and role gates. Runs on SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from central_server.admissions.tables import AdmApplication, AdmEvidence, AdmPlan, AdmRun
from central_server.ioc.tables import IocAlert
from central_server.library.schemas import ItemIn
from central_server.library.service import create_item
from central_server.masterdata.service import create_school
from central_server.masterdata.tables import ImportBatch, SchoolClass, Student, Teacher
from central_server.signature import service as sig
from central_server.signature.config import SignatureSettings
from tests.central_server.admissions.conftest import small_plan_dict
from tests.central_server.app_routes import flat_routes

PA, PS, SA_A, SA_B, T_A, T_B = "province_admin", "province_staff", "school_admin_a", "school_admin_b", "teacher_a", \
    "teacher_b"
ROLES = (PA, PS, SA_A, SA_B, T_A, T_B)
ALL = frozenset(ROLES)
PROV = frozenset({PA, PS})
ADMIN = frozenset({PA})
REVIEWERS = PROV | {SA_A, SA_B}
B_SCHOOL = PROV | {SA_B, T_B}          # everyone of school B (teacher B leads class B)
B_MANAGERS = frozenset({PA, SA_B})      # who writes school B's data
B_ADMINS = PROV | {SA_B}                # who reads school B's admissions files
NOBODY = frozenset()
SWAP = {SA_A: SA_B, SA_B: SA_A, T_A: T_B, T_B: T_A}


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str] | None        # None: public (anonymous too)
    mirror: bool = False                  # the path names a school's object: check A's too, with A and B swapped
    body: Callable[[dict], dict] | None = None


PUBLIC = Rule(None)
_n = itertools.count(1)


def _json(f):
    return lambda o: {"json": f(o)}


def _form(f):
    return lambda o: {"data": f(o)}


XLSX = {"file": ("hoc-sinh.xlsx", b"PK\x03\x04 not a workbook", "application/vnd.ms-excel")}
PLAN = small_plan_dict(schools=[{"code": "94000701", "name": "THPT Thử A", "quota": 1},
                                {"code": "94000702", "name": "THPT Thử B", "quota": 1}])
RECORD = {"kind": "record", "title": "TRÍCH SỔ ĐIỂM — MÔN TOÁN", "school_name": "Trường", "columns": ["STT", "Điểm"],
          "rows": [["1", "8"]]}

TABLE: dict[str, Rule] = {
    # core
    "POST /api/auth/token": PUBLIC, "GET /healthz": PUBLIC, "GET /login": PUBLIC, "POST /login": PUBLIC,
    "POST /logout": PUBLIC,  # signing out needs no session (anonymous: back to /login)
    "GET /metrics": Rule(NOBODY),  # Prometheus: ops network + scrape token, no user session (core/metrics.py)
    "GET /api/auth/me": Rule(ALL), "GET /": Rule(ALL), "GET /account": Rule(ALL),
    "GET /api/audit": Rule(ADMIN), "GET /admin/audit": Rule(ADMIN),
    # masterdata
    "GET /api/masterdata/schools": Rule(ALL),
    "POST /api/masterdata/schools": Rule(ADMIN, body=_json(lambda o: {"code": f"9409{next(_n):04d}",
                                                                      "name": "THPT Mới"})),
    "GET /api/masterdata/schools/{school_id}": Rule(B_SCHOOL, True),
    "GET /api/masterdata/schools/{school_id}/classes": Rule(B_SCHOOL, True),
    "GET /api/masterdata/classes/{class_id}/students": Rule(B_SCHOOL, True),
    "GET /api/masterdata/students/{student_id}": Rule(B_SCHOOL, True),
    "POST /api/masterdata/schools/{school_id}/teachers": Rule(B_MANAGERS, True, _json(
        lambda o: {"staff_code": f"GV{next(_n)}", "full_name": "Giáo Viên Mới"})),
    "POST /api/masterdata/schools/{school_id}/imports": Rule(B_MANAGERS, True, lambda o: {
        "files": XLSX, "data": {"school_year": "2025-2026"}}),
    "POST /api/masterdata/schools/{school_id}/teacher-imports": Rule(B_MANAGERS, True, lambda o: {"files": XLSX}),
    "POST /api/masterdata/imports/{batch_id}/apply": Rule(B_MANAGERS, True),
    "GET /masterdata/import": Rule(frozenset({PA, SA_A, SA_B})),
    "POST /masterdata/import": Rule(B_MANAGERS, True, lambda o: {
        "files": XLSX, "data": {"school_id": str(o["school_id"]), "school_year": "2025-2026"}}),
    "POST /masterdata/import/teachers": Rule(B_MANAGERS, True, lambda o: {
        "files": XLSX, "data": {"school_id": str(o["school_id"])}}),
    "POST /masterdata/import/{batch_id}/apply": Rule(B_MANAGERS, True),
    # attendance
    "GET /overview": Rule(ALL), "GET /warnings": Rule(ALL), "GET /api/attendance/overview": Rule(ALL),
    "GET /api/attendance/warnings": Rule(ALL), "GET /api/attendance/warnings/export": Rule(ALL),
    "GET /schools/{school_id}": Rule(B_SCHOOL, True), "GET /classes/{class_id}": Rule(B_SCHOOL, True),
    "GET /students/{student_id}": Rule(B_SCHOOL, True),
    "GET /api/attendance/schools/{school_id}": Rule(B_SCHOOL, True),
    "GET /api/attendance/classes/{class_id}": Rule(B_SCHOOL, True),
    "GET /api/attendance/students/{student_id}": Rule(B_SCHOOL, True),
    "GET /api/attendance/classes/{class_id}/export": Rule(B_SCHOOL, True),
    "GET /api/attendance/schools/{school_id}/export": Rule(B_SCHOOL, True),
    # ingest and the downlink: edge agents sign their requests (no user account gets in); the backlogs: province
    "POST /api/ingest/reconcile": Rule(NOBODY), "GET /api/ingest/packages/{kind}/{version}": Rule(NOBODY),
    "GET /api/ingest/quarantine": Rule(PROV), "GET /api/ingest/control-outbox": Rule(PROV),
    # admissions: applicants' pages are public; staff see the applications of their school (admissions/access.py)
    "GET /tuyen-sinh": PUBLIC, "GET /tuyen-sinh/dang-ky": PUBLIC, "POST /tuyen-sinh/dang-ky": PUBLIC,
    "GET /tuyen-sinh/ho-so": PUBLIC, "POST /tuyen-sinh/ho-so": PUBLIC, "POST /tuyen-sinh/ho-so/luu": PUBLIC,
    "POST /tuyen-sinh/bien-nhan": PUBLIC, "GET /tuyen-sinh/xac-minh/{code}": PUBLIC, "GET /tuyen-sinh/ty-le": PUBLIC,
    "GET /tuyen-sinh/tra-cuu": PUBLIC, "POST /tuyen-sinh/tra-cuu": PUBLIC, "POST /api/admissions/lookup": PUBLIC,
    "GET /admissions": Rule(REVIEWERS),
    "POST /admissions/plans": Rule(ADMIN, body=_form(lambda o: {"document": json.dumps(PLAN)})),
    "GET /admissions/plans/{plan_id}.json": Rule(REVIEWERS),
    "GET /admissions/applications": Rule(REVIEWERS),
    "GET /admissions/applications/{app_id}": Rule(B_ADMINS, True),
    "POST /admissions/applications/{app_id}/review": Rule(B_ADMINS, True, _form(lambda o: {"item": "priority",
                                                                                            "ok": "1"})),
    "GET /admissions/evidence/{ev_id}": Rule(B_ADMINS, True),
    "GET /admissions/assisted": Rule(REVIEWERS), "POST /admissions/assisted": Rule(REVIEWERS),
    "POST /admissions/candidate-numbers": Rule(PROV),
    "GET /admissions/scores": Rule(PROV), "POST /admissions/scores": Rule(PROV, body=lambda o: {"files": XLSX}),
    "POST /admissions/runs": Rule(ADMIN, body=_form(lambda o: {"mode": "rule"})),
    "GET /admissions/runs/{run_id}": Rule(PROV),
    "POST /admissions/runs/{run_id}/publish": Rule(ADMIN), "POST /admissions/runs/{run_id}/supplementary": Rule(ADMIN),
    # signature: documents of a school (signature/access.py); verification, the QR page and the pilot PKI public
    "POST /signature/verify": Rule(None, body=lambda o: {"files": {"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}}),
    "GET /signature/verify": PUBLIC, "GET /signature/d/{doc_id}": PUBLIC,
    "GET /signature/pki/ca/{ca_id}.cer": PUBLIC, "GET /signature/pki/crl/{ca_id}.crl": PUBLIC,
    "POST /signature/pki/ocsp/{ca_id}": PUBLIC, "GET /signature/pki/ocsp/{ca_id}/{encoded:path}": PUBLIC,
    "POST /signature/pki/tsa": PUBLIC,
    "POST /api/signature/documents": Rule(frozenset({SA_B, T_B}), True, _json(
        lambda o: {**RECORD, "school_id": o["school_id"], "class_id": o["class_id"]})),
    "GET /api/signature/documents/{doc_id}": Rule(B_SCHOOL, True),
    "PATCH /api/signature/documents/{doc_id}/cells": Rule(B_SCHOOL, True, _json(
        lambda o: {"edits": [{"row": 0, "col": 1, "value": "9"}], "reason": "sửa"})),
    "POST /api/signature/documents/{doc_id}/lock": Rule(B_SCHOOL, True),
    "POST /api/signature/documents/{doc_id}/verify-record": Rule(frozenset({T_B}), True),
    "POST /api/signature/documents/{doc_id}/sign": Rule(B_SCHOOL, True, _form(lambda o: {"field": "HieuTruong",
                                                                                          "method": "remote"})),
    "POST /api/signature/documents/{doc_id}/unlock": Rule(frozenset({PA, SA_B}), True, _json(
        lambda o: {"reason": "Phúc khảo"})),
    "GET /api/signature/documents/{doc_id}/changes": Rule(B_SCHOOL, True),
    "GET /api/signature/documents/{doc_id}/versions/{version}.pdf": Rule(B_SCHOOL, True),
    "GET /api/signature/attendance/period": Rule(B_SCHOOL, True, lambda o: {"params": {
        "class_id": o["class_id"], "day": "2025-09-15", "period": 1}}),
    "POST /api/signature/attendance/period": Rule(frozenset({T_B}), True, _json(
        lambda o: {"class_id": o["class_id"], "day": "2025-09-15", "period": 1})),
    "GET /api/signature/attendance/month": Rule(B_SCHOOL, True, lambda o: {"params": {
        "class_id": o["class_id"], "month": "2025-09"}}),
    "POST /api/signature/attendance/month": Rule(frozenset({T_B}), True, _json(
        lambda o: {"class_id": o["class_id"], "month": "2025-09"})),
    "GET /api/signature/documents/{doc_id}/attendance-source": Rule(B_SCHOOL, True),
    "POST /api/signature/documents/{doc_id}/attendance-refresh": Rule(B_SCHOOL, True),
    "GET /signature/attendance": Rule(ALL),
    "POST /signature/attendance": Rule(frozenset({T_B}), True, _form(
        lambda o: {"kind": "month", "class_id": str(o["class_id"]), "month": "2025-09"})),
    "POST /signature/documents/{doc_id}/attendance-refresh": Rule(B_SCHOOL, True),
    "GET /signature": Rule(ALL), "GET /signature/documents/{doc_id}": Rule(B_SCHOOL, True),
    "POST /signature/documents/{doc_id}/lock": Rule(B_SCHOOL, True),
    "POST /signature/documents/{doc_id}/verify-record": Rule(frozenset({T_B}), True),
    "POST /signature/documents/{doc_id}/sign": Rule(B_SCHOOL, True, _form(lambda o: {"field": "HieuTruong",
                                                                                      "method": "remote"})),
    "POST /signature/documents/{doc_id}/unlock": Rule(frozenset({PA, SA_B}), True, _form(
        lambda o: {"reason": "Phúc khảo"})),
    # library: published items and OAI-PMH public; drafts to their author, their school's admin, the province
    "GET /library/oai": PUBLIC, "POST /library/oai": PUBLIC, "GET /library": PUBLIC,
    "GET /api/library/items": PUBLIC,
    "POST /api/library/items": Rule(ALL, body=_json(lambda o: {"title": "Học liệu mới"})),
    "GET /api/library/items/{item_id}": Rule(B_SCHOOL, True),
    "PUT /api/library/items/{item_id}": Rule(B_SCHOOL, True, _json(lambda o: {"title": "Đổi tên"})),
    "DELETE /api/library/items/{item_id}": Rule(B_SCHOOL, True),
    "POST /api/library/items/{item_id}/actions": Rule(B_SCHOOL, True, _json(lambda o: {"action": "submit"})),
    "POST /api/library/items/{item_id}/file": Rule(B_SCHOOL, True, lambda o: {
        "files": {"file": ("a.pdf", b"%PDF-1.4\n%%EOF", "application/pdf")}}),
    "GET /api/library/items/{item_id}/download": Rule(B_SCHOOL, True),
    "GET /api/library/items/{item_id}/thumbnail": Rule(B_SCHOOL, True),
    "POST /api/library/marc/import": Rule(ALL, body=lambda o: {"files": {"file": ("a.mrc", b"00000", "x")}}),
    "GET /api/library/marc/export": Rule(ALL),
    "GET /api/library/marc/export?status=draft": Rule(PROV),
    "GET /api/library/stats": Rule(PROV), "GET /library/stats": Rule(PROV),
    "GET /library/items/{item_id}": Rule(B_SCHOOL, True),
    "POST /library/items/{item_id}/action": Rule(B_SCHOOL, True, _form(lambda o: {"action": "submit"})),
    "POST /library/items/{item_id}/upload": Rule(B_SCHOOL, True, lambda o: {
        "files": {"file": ("a.pdf", b"%PDF-1.4\n%%EOF", "application/pdf")}}),
    "GET /library/manage": Rule(ALL), "POST /library/manage": Rule(ALL, body=_form(lambda o: {"title": "Bài giảng"})),
    "GET /library/review": Rule(PROV),
    # admissions plan form (province admin writes plans; readers export them)
    "GET /admissions/plans/form": Rule(ADMIN),
    "POST /admissions/plans/form": Rule(ADMIN, body=_form(lambda o: {"year": "2025"})),
    "GET /admissions/plans/{plan_id}.toml": Rule(REVIEWERS),
    # operations centre: province roles everything, a school admin their school, teachers nothing; the public view
    # is aggregates only; the city API answers consumer tokens only (no user session gets in)
    "GET /ioc": Rule(REVIEWERS), "GET /ioc/alerts": Rule(REVIEWERS), "GET /ioc/rules": Rule(REVIEWERS),
    "GET /api/ioc/overview": Rule(REVIEWERS), "GET /api/ioc/fleet": Rule(REVIEWERS),
    "GET /api/ioc/alerts": Rule(REVIEWERS), "GET /api/ioc/rules": Rule(REVIEWERS),
    "GET /api/ioc/export.xlsx": Rule(REVIEWERS),
    "GET /ioc/schools/{school_id}": Rule(B_ADMINS, True), "GET /api/ioc/schools/{school_id}": Rule(B_ADMINS, True),
    "POST /api/ioc/alerts/{alert_id}/ack": Rule(B_ADMINS, True, _json(lambda o: {"note": "Đã gọi trường"})),
    "POST /api/ioc/alerts/{alert_id}/resolve": Rule(B_ADMINS, True, _json(lambda o: {"note": "Xong"})),
    "POST /ioc/alerts/{alert_id}/ack": Rule(B_ADMINS, True, _form(lambda o: {"note": "Đã gọi trường"})),
    "POST /ioc/alerts/{alert_id}/resolve": Rule(B_ADMINS, True, _form(lambda o: {"note": "Xong"})),
    "PUT /api/ioc/rules/{code}": Rule(ADMIN, body=_json(lambda o: {"threshold": 20, "enabled": True})),
    "POST /ioc/rules/{code}": Rule(ADMIN, body=_form(lambda o: {"threshold": "20", "enabled": "on"})),
    "GET /api/ioc/public": PUBLIC, "GET /ioc/public": PUBLIC,
    "GET /api/ioc/v1/overview": Rule(NOBODY), "GET /api/ioc/v1/fleet": Rule(NOBODY),
    "GET /api/ioc/v1/alerts": Rule(NOBODY), "GET /api/ioc/v1/schools/{school_id}": Rule(NOBODY),
}
# public library routes (optional sign-in): an unpublished item is hidden from anonymous visitors with a 404
HIDDEN = {"GET /api/library/items/{item_id}", "GET /api/library/items/{item_id}/download",
          "GET /api/library/items/{item_id}/thumbnail", "GET /library/items/{item_id}"}
# refused by address before any credential is asked for (the ops network allowlist answers 403)
NETWORK_GUARDED = {"GET /metrics"}
SKIP = {"/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}  # FastAPI's own documentation pages
# items whose draft-only GET variants need the item's own state; the download of a file-less item is a 404
MAY_404 = {"GET /api/library/items/{item_id}/download", "GET /api/library/items/{item_id}/thumbnail",
           "GET /api/signature/documents/{doc_id}/attendance-source"}




def route_keys(app) -> set[str]:
    return {f"{m} {path}" for path, r in flat_routes(app.routes) if path not in SKIP
            for m in r.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_an_entry(app):
    keys = route_keys(app)
    assert len(keys) >= 120
    missing = sorted(keys - {k.split("?")[0] for k in TABLE})
    stale = sorted({k.split("?")[0] for k in TABLE} - keys)
    assert missing == [], f"routes without an authorisation entry in {__file__}: {missing}"
    assert stale == [], f"entries for routes that no longer exist: {stale}"


def _school(db, make_user, code: str, suffix: str, n: int) -> dict:
    school = create_school(db, code, f"THPT Thử {suffix.upper()}")
    db.flush()
    admin = make_user(f"bgh_{suffix}", "school_admin", school_id=school.id)
    teacher = make_user(f"gv_{suffix}", "teacher", school_id=school.id, full_name=f"Giáo Viên {suffix.upper()}")
    staff = Teacher(school_id=school.id, staff_code=f"GV-{suffix}", full_name=teacher.full_name, user_id=teacher.id)
    db.add(staff)
    db.flush()
    klass = SchoolClass(school_id=school.id, school_year="2025-2026", code=f"10{suffix.upper()}1", grade=10,
                        homeroom_teacher_id=staff.id)
    db.add(klass)
    db.flush()
    student = Student(personal_id=f"09420700000{n}", full_name=f"Học Sinh {suffix.upper()}", school_id=school.id,
                      class_id=klass.id, birth_date=dt.date(2009, 1, 1))
    batch = ImportBatch(school_id=school.id, school_year="2025-2026", uploaded_by=admin.id, filename="a.xlsx",
                        sha256="0" * 64, content=b"x", summary={}, status="applied")  # apply: 409 when allowed
    db.add_all([student, batch])
    db.flush()
    doc = sig.create(db, teacher, "record", "TRÍCH SỔ ĐIỂM", school.name,
                     sig.Content([], ["STT", "Điểm"], [["1", "8"]]), class_id=klass.id)
    sig.lock(db, teacher, doc.id, SignatureSettings(_env_file=None))
    sig.verify_record(db, teacher, doc.id, SignatureSettings(_env_file=None))  # the teacher leads the class
    item = create_item(db, ItemIn(title=f"Giáo án nháp {suffix}"), teacher)
    app = AdmApplication(year=2025, personal_id=f"07930900000{n}", full_name=f"Thí Sinh {n}", dob=dt.date(2010, 1, 1),
                         aspirations=[code], edit_secret_hash="x" * 64, receipt_code=f"RC-MATRIX-{n}")
    db.add(app)
    db.flush()
    ev = AdmEvidence(application_id=app.id, kind="priority", filename="a.pdf", content_type="application/pdf",
                     size=4, sha256="0" * 64, data=b"%PDF")
    db.add(ev)
    db.flush()
    alert = IocAlert(rule_code="edge_offline", school_id=school.id, subject=f"school:{school.id}",
                     dedup_key=f"matrix:{suffix}", open_key=f"matrix:{suffix}", message="Máy trạm mất kết nối")
    db.add(alert)
    db.flush()
    users = {f"school_admin_{suffix}": admin, f"teacher_{suffix}": teacher}
    return {"users": users, "school_id": school.id, "class_id": klass.id, "student_id": student.id,
            "doc_id": doc.id, "version": 1, "item_id": item.id, "app_id": app.id, "ev_id": ev.id,
            "batch_id": batch.id, "alert_id": alert.id}


@pytest.fixture()
def world(app, db, make_user):
    a = _school(db, make_user, "94000701", "a", 1)
    b = _school(db, make_user, "94000702", "b", 2)
    row = AdmPlan(year=2025, version=1, document=PLAN, active=True)
    db.add(row)
    db.flush()
    run = AdmRun(year=2025, plan_id=row.id)
    db.add(run)
    db.commit()
    users = {PA: make_user("so_admin", "province_admin"), PS: make_user("so_canbo", "province_staff"),
             **a.pop("users"), **b.pop("users")}
    shared = {"plan_id": row.id, "run_id": run.id, "kind": "models", "ca_id": "root", "encoded": "MA", "code": "X"}
    return users, {"a": a | shared, "b": b | shared}


def _url(key: str, objects: dict) -> tuple[str, str, dict]:
    method, target = key.split(" ", 1)
    path, _, query = target.partition("?")
    for name, value in objects.items():
        path = path.replace("{" + name + "}", str(value)).replace("{" + name + ":path}", str(value))
    params = dict(p.split("=", 1) for p in query.split("&")) if query else {}
    return method, path, params


def _call(c, key: str, rule: Rule, objects: dict):
    method, path, params = _url(key, objects)
    kwargs = rule.body(objects) if rule.body else {}
    kwargs["params"] = {**params, **kwargs.get("params", {})}
    return c.request(method, path, follow_redirects=False, **kwargs)


def _to_login(r) -> bool:
    return r.status_code in (302, 303, 307) and r.headers.get("location", "").startswith("/login")


def _verdict(key: str, r, allowed: bool) -> str | None:
    if r.status_code >= 500:
        return "5xx"
    if allowed:
        if r.status_code in (401, 403) or _to_login(r):
            return "refused"
        if key.startswith("GET ") and r.status_code == 404 and key not in MAY_404:
            return "not found"
        return None
    return None if r.status_code in (401, 403, 404) else "let through"


def test_authorisation_matrix(app, world, client, client_for):
    users, sides = world
    clients = {role: client_for(users[role]) for role in ROLES}
    failures: list[str] = []

    def check(key: str, rule: Rule, roles, side: str):
        objects = sides[side]
        allowed = rule.allowed if side == "b" else frozenset(SWAP.get(x, x) for x in rule.allowed)
        for role in roles(allowed):
            r = _call(clients[role], key, rule, objects)
            problem = _verdict(key, r, role in allowed)
            if problem:
                failures.append(f"{key} [{side}] as {role}: {problem} ({r.status_code} {r.text[:120]!r})")

    guarded = {k: v for k, v in TABLE.items() if v.allowed is not None}
    sides_of = {k: ("b", "a") if v.mirror else ("b",) for k, v in guarded.items()}
    # anonymous: 401 or the sign-in page on every route that is not public; public ones answer without 5xx
    for key, rule in TABLE.items():
        r = _call(client, key, rule, sides["b"])
        if rule.allowed is None:
            if r.status_code >= 500:
                failures.append(f"{key} public, anonymous: {r.status_code}")
        elif not (r.status_code == 401 or _to_login(r) or (key in HIDDEN and r.status_code == 404)
                  or (key in NETWORK_GUARDED and r.status_code == 403)):
            failures.append(f"{key} anonymous: {r.status_code} {r.text[:120]!r}")
    reads = [k for k in guarded if k.startswith("GET ")]
    writes = sorted((k for k in guarded if not k.startswith("GET ")), key=lambda k: k.startswith("DELETE "))
    for key in reads:
        for side in sides_of[key]:
            check(key, guarded[key], lambda allowed: ROLES, side)
    for key in writes:  # every refusal meets the objects untouched
        for side in sides_of[key]:
            check(key, guarded[key], lambda allowed: [x for x in ROLES if x not in allowed], side)
    for key in writes:
        for side in sides_of[key]:
            check(key, guarded[key], lambda allowed: [x for x in ROLES if x in allowed], side)
    assert failures == [], "\n".join(failures)


def test_a_route_added_without_an_entry_is_caught(app):
    @app.get("/api/new-module/things/{thing_id}")
    def new_route(thing_id: int):  # a module that forgot to say who may call it
        return {}

    assert route_keys(app) - {k.split("?")[0] for k in TABLE} == {"GET /api/new-module/things/{thing_id}"}
