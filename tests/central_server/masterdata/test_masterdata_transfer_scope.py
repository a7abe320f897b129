"""Cross-school takeover through the MOET import (issue 15 item 2): a school may neither read nor move another
school's student or teacher. A transfer is done by the province admin, or by the receiving school once the
releasing school has recorded the student as leaving ("Chuyển đi"). Two schools, every role; SQLite + PostgreSQL."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select

from central_server.core.tables import User
from central_server.ingest.service import set_school_key
from central_server.ingest.tables import ControlOutbox
from central_server.masterdata.access import TEACHER_TRANSFER_REFUSED, TRANSFER_REFUSED
from central_server.masterdata.service import create_school, create_teacher
from central_server.masterdata.tables import Student, Teacher
from tests.central_server.masterdata.moet_xlsx import moet_workbook

YEAR = "2025-2026"
HEAD = ["STT", "Họ tên (*)", "Ngày sinh", "Giới tính", "Mã lớp", "Trạng thái HS", "Số định danh cá nhân"]
PID = "094209000001"


def xlsx(rows) -> bytes:
    return moet_workbook(rows, HEAD, "C1-HocSinh", "DANH SÁCH HỌC SINH", 1)


def row(pid, name, klass="10A1", status="Đang học", gender="Nữ"):
    return [1, name, "05/09/2009", gender, klass, status, pid]


@pytest.fixture()
def world(db, make_user, client, bearer_for):
    a = create_school(db, "94000901", "THPT Lê Lợi")
    b = create_school(db, "94000902", "THPT Kế Sách")
    for code in (a.code, b.code):
        set_school_key(db, code, os.urandom(32))
    t = create_teacher(db, b.id, "GV01", "Lý Thị Bảy")
    t.personal_id = "094185009001"
    db.commit()
    users = {"so_admin": make_user("so_admin", "province_admin"), "so_canbo": make_user("so_canbo", "province_staff"),
             "admin_a": make_user("admin_a", "school_admin", school_id=a.id),
             "admin_b": make_user("admin_b", "school_admin", school_id=b.id),
             "gv_a": make_user("gv_a", "teacher", school_id=a.id)}
    h = {k: bearer_for(u) for k, u in users.items()}
    # B holds the student
    r = client.post(f"/api/masterdata/schools/{b.id}/imports", headers=h["admin_b"], data={"school_year": YEAR},
                    files={"file": ("hs.xlsx", xlsx([row(PID, "Thạch Thị Sa Rin", klass="11B1")]), "x")})
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h["admin_b"]).status_code \
        == 200
    return a, b, h


def preview(client, h, school_id, data, path="imports"):
    return client.post(f"/api/masterdata/schools/{school_id}/{path}", headers=h, data={"school_year": YEAR},
                       files={"file": ("f.xlsx", data, "application/octet-stream")})


def test_a_school_cannot_read_or_take_another_schools_student(client, db, world):
    a, b, h = world
    r = preview(client, h["admin_a"], a.id, xlsx([row(PID, "Tên Khác", gender="Nam")]))
    assert r.status_code == 200
    (only,) = r.json()["rows"]
    assert only["kind"] == "invalid" and only["errors"] == [TRANSFER_REFUSED]
    text = json.dumps(r.json(), ensure_ascii=False)
    for secret in ("Thạch Thị Sa Rin", "94000902", "11B1", "Nữ"):
        assert secret not in text  # nothing of B's record reaches A
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h["admin_a"]).status_code \
        == 422
    db.expire_all()
    s = db.scalars(select(Student).where(Student.personal_id == PID)).one()
    assert (s.school_id, s.full_name, s.gender) == (b.id, "Thạch Thị Sa Rin", "Nữ")
    assert db.scalars(select(ControlOutbox)).all() == []  # no erasure queued at B


def test_the_html_preview_shows_nothing_of_the_other_school_either(db, world, client_for):
    a, _, _ = world
    admin_a = client_for(db.scalars(select(User).where(User.username == "admin_a")).one())
    r = admin_a.post("/masterdata/import", data={"school_year": YEAR, "school_id": str(a.id)},
                     files={"file": ("f.xlsx", xlsx([row(PID, "Tên Khác")]), "application/octet-stream")},
                     follow_redirects=True)
    assert r.status_code in (200, 422)
    assert "Thạch Thị Sa Rin" not in r.text and "94000902" not in r.text


def test_after_release_the_receiving_school_may_take_the_student(client, db, world):
    a, b, h = world
    # B records the transfer out (its edge gets an erasure request), then A imports the student
    r = preview(client, h["admin_b"], b.id, xlsx([row(PID, "Thạch Thị Sa Rin", klass="11B1", status="Chuyển đi")]))
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h["admin_b"]).status_code \
        == 200
    r = preview(client, h["admin_a"], a.id, xlsx([row(PID, "Thạch Thị Sa Rin", status="Đang học")]))
    assert r.json()["rows"][0]["kind"] == "moved"
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h["admin_a"]).status_code \
        == 200
    db.expire_all()
    assert db.scalars(select(Student).where(Student.personal_id == PID)).one().school_id == a.id
    assert [o.school for o in db.scalars(select(ControlOutbox))] == ["94000902"]  # one erasure, at B


def test_the_province_admin_may_move_a_student_and_other_roles_may_not_import(client, db, world):
    a, _, h = world
    for who in ("so_canbo", "admin_b", "gv_a"):
        assert preview(client, h[who], a.id, xlsx([row(PID, "Thạch Thị Sa Rin")])).status_code == 403
    r = preview(client, h["so_admin"], a.id, xlsx([row(PID, "Thạch Thị Sa Rin")]))
    assert r.json()["rows"][0]["kind"] == "moved" and r.json()["rows"][0]["from_school"] == "94000902"
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h["so_admin"]).status_code \
        == 200


TEACHER_HEAD = ["Mã cán bộ", "Họ và tên", "Số định danh cá nhân", "Môn dạy"]


def test_a_school_cannot_take_another_schools_teacher(client, db, world):
    a, b, h = world
    data = moet_workbook([["GV77", "Tên Khác", "094185009001", "Toán"]], TEACHER_HEAD, "C2-CanBo", "DS", 0)
    r = preview(client, h["admin_a"], a.id, data, path="teacher-imports")
    (only,) = r.json()["rows"]
    assert only["kind"] == "invalid" and TEACHER_TRANSFER_REFUSED in only["errors"]
    assert "Lý Thị Bảy" not in json.dumps(r.json(), ensure_ascii=False)
    client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h["admin_a"])
    db.expire_all()
    t = db.scalars(select(Teacher).where(Teacher.personal_id == "094185009001")).one()
    assert (t.school_id, t.full_name, t.staff_code) == (b.id, "Lý Thị Bảy", "GV01")
    r = preview(client, h["so_admin"], a.id, data, path="teacher-imports")
    assert r.json()["rows"][0]["kind"] == "moved"
