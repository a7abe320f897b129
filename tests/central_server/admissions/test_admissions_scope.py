"""Issue 15 item 5: which staff member sees which application (central_server/admissions/access.py), with two
schools and every role, on SQLite and PostgreSQL: the province sees all; a school admin only the applications
that name their school (aspiration, specialised class of their school, or their school as the lower-secondary
school); a teacher none. List, detail, evidence download and review all follow the same rule."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from central_server.admissions.tables import AdmApplication, AdmEvidence
from central_server.masterdata.service import create_school


def _application(db, n: int, aspirations, lower="THCS Phường 2", specialised=()):
    app = AdmApplication(year=2025, personal_id=f"0793090{n:05d}", full_name=f"Thí Sinh {n}", dob=dt.date(2010, 1, 1),
                         lower_secondary=lower, aspirations=list(aspirations), specialised=list(specialised),
                         edit_secret_hash="x" * 64, receipt_code=f"RC{n:06d}")
    db.add(app)
    db.flush()
    db.add(AdmEvidence(application_id=app.id, kind="priority", filename="a.pdf", content_type="application/pdf",
                       size=4, sha256="0" * 64, data=b"%PDF"))
    return app


@pytest.fixture()
def world(db, make_user, client_for, plan_dict):
    a = create_school(db, "94000701", "THPT Hoàng Diệu")
    b = create_school(db, "94000702", "THPT Lê Lợi")
    db.commit()
    admin = client_for(make_user("so_ts", "province_admin"))
    d = plan_dict(schools=[{"code": "HD", "moet_code": "94000701", "name": "THPT Hoàng Diệu", "quota": 1,
                            "kind": "specialised", "specialised_classes": [
                                {"code": "C_toan", "name": "Chuyên Toán", "quota": 1, "paper": "chuyen_toan",
                                 "weights": {"toan": 1, "chuyen_toan": 2}}]},
                           {"code": "94000702", "name": "THPT Lê Lợi", "quota": 1}])
    r = admin.post("/admissions/plans", data={"document": json.dumps(d)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    apps = {"nv_a": _application(db, 1, ["HD"]), "nv_b": _application(db, 2, ["94000702"]),
            "nv2_a": _application(db, 3, ["94000702", "HD"]), "thcs_b": _application(db, 4, [], lower="THPT Lê Lợi"),
            "chuyen_a": _application(db, 5, [], specialised=["C_toan"]),
            "look_alike": _application(db, 6, ["HDX"], lower="THCS HD")}
    db.commit()
    clients = {"province_admin": admin, "province_staff": client_for(make_user("cb_ts", "province_staff")),
               "school_admin_a": client_for(make_user("bgh_a", "school_admin", school_id=a.id)),
               "school_admin_b": client_for(make_user("bgh_b", "school_admin", school_id=b.id)),
               "teacher_a": client_for(make_user("gv_a", "teacher", school_id=a.id))}
    return apps, clients


SEES = {"province_admin": {"nv_a", "nv_b", "nv2_a", "thcs_b", "chuyen_a", "look_alike"},
        "province_staff": {"nv_a", "nv_b", "nv2_a", "thcs_b", "chuyen_a", "look_alike"},
        "school_admin_a": {"nv_a", "nv2_a", "chuyen_a"},
        "school_admin_b": {"nv_b", "nv2_a", "thcs_b"},
        "teacher_a": set()}


def test_each_role_sees_only_its_applications(world, db):
    apps, clients = world
    for role, c in clients.items():
        listing = c.get("/admissions/applications")
        if role == "teacher_a":
            assert listing.status_code == 403
        else:
            shown = {k for k, app in apps.items() if f"/admissions/applications/{app.id}\"" in listing.text}
            assert shown == SEES[role], role
        for key, app in apps.items():
            ev = db.scalars(select(AdmEvidence.id).where(AdmEvidence.application_id == app.id)).one()
            expected = 200 if key in SEES[role] else 403
            assert c.get(f"/admissions/applications/{app.id}").status_code == expected, (role, key)
            assert c.get(f"/admissions/evidence/{ev}").status_code == expected, (role, key)
            r = c.post(f"/admissions/applications/{app.id}/review", data={"item": "priority", "ok": "1"},
                       follow_redirects=False)
            assert r.status_code == (303 if key in SEES[role] else 403), (role, key, r.status_code)
    db.expire_all()
    last = {k: db.get(AdmApplication, a.id).review["priority"]["by"] for k, a in apps.items()}  # last sign-off
    assert last == {"nv_a": "bgh_a", "nv_b": "bgh_b", "nv2_a": "bgh_b", "thcs_b": "bgh_b", "chuyen_a": "bgh_a",
                    "look_alike": "cb_ts"}


def test_province_only_pages_refuse_schools(world):
    _, clients = world
    for role in ("school_admin_a", "school_admin_b", "teacher_a"):
        c = clients[role]
        assert c.get("/admissions/scores").status_code == 403
        assert c.post("/admissions/scores", files={"file": ("d.xlsx", b"x")}).status_code == 403
        assert c.post("/admissions/runs", data={"mode": "rule"}).status_code == 403
        assert c.post("/admissions/candidate-numbers").status_code == 403
