"""MOET Excel import by header name: preview new/updated/moved/invalid, all-or-nothing apply, bad files → 4xx."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from central_server.masterdata.service import create_school, province_code_on
from central_server.masterdata.tables import Enrolment, ImportBatch, SchoolClass, Student
from tests.central_server.masterdata.moet_xlsx import moet_workbook

YEAR = "2025-2026"
HEAD = ["STT", "Dân tộc", "Họ tên (*)", "Ngày sinh", "Giới tính", "Mã lớp", "Mã học sinh", "Trạng thái HS",
        "Số định danh cá nhân"]


def xlsx(rows, head=HEAD, title_rows=3) -> bytes:
    return moet_workbook(rows, head, "C1-HocSinh", "DANH SÁCH HỌC SINH — dòng tiêu đề", title_rows)


def row(pid, name, klass, born="05/09/2009", gender="Nam"):
    return [1, "Khmer", name, born, gender, klass, "HS" + pid[-4:], "Đang học", pid]


@pytest.fixture()
def schools(db, make_user):
    a = create_school(db, "94000701", "THPT Hoàng Diệu")
    b = create_school(db, "94000702", "THPT Mỹ Xuyên")
    db.commit()
    return a, b, make_user("so_admin", "province_admin"), make_user("admin_b", "school_admin", school_id=b.id)


def upload(client, headers, school_id, data, year=YEAR, name="hs.xlsx"):
    return client.post(f"/api/masterdata/schools/{school_id}/imports", headers=headers,
                       data={"school_year": year}, files={"file": (name, data, "application/octet-stream")})


def test_preview_then_apply_new_updated_moved_invalid(client, db, schools, bearer_for):
    a, b, admin, _ = schools
    h = bearer_for(admin)
    first = xlsx([row("094207000001", "Thạch Thị Sa Rin", "10A1"), row("094207000002", "Lâm Văn Bình", "10A1"),
                  [None] * 9,  # blank rows are skipped
                  row("094207000003", "Trần Thu Hà", "10A2", born=dt.datetime(2009, 3, 1))])
    r = upload(client, h, a.id, first)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == {"new": 3, "updated": 0, "moved": 0, "unchanged": 0, "invalid": 0}
    assert db.scalar(select(func.count()).select_from(Student)) == 0  # preview writes no student
    r = client.post(f"/api/masterdata/imports/{body['batch_id']}/apply", headers=h)
    assert r.status_code == 200 and r.json()["summary"]["classes_created"] == 2
    assert client.post(f"/api/masterdata/imports/{body['batch_id']}/apply", headers=h).status_code == 409

    # second file for school B: one moved from A, a new one; for A: one renamed (updated) one unchanged
    r = upload(client, h, b.id, xlsx([row("094207000002", "Lâm Văn Bình", "11B1"),
                                      row("094207000004", "Sơn Thị Mai", "11B1")]))
    assert r.json()["summary"] == {"new": 1, "updated": 0, "moved": 1, "unchanged": 0, "invalid": 0}
    moved = [x for x in r.json()["rows"] if x["kind"] == "moved"][0]
    assert moved["from_school"] == "94000701" and moved["from_class"] == "10A1"
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h).status_code == 200
    r = upload(client, h, a.id, xlsx([row("094207000001", "Thạch Thị Sa Rinh", "10A1"),
                                      row("094207000003", "Trần Thu Hà", "10A2", born=dt.datetime(2009, 3, 1))]))
    assert r.json()["summary"] == {"new": 0, "updated": 1, "moved": 0, "unchanged": 1, "invalid": 0}
    upd = [x for x in r.json()["rows"] if x["kind"] == "updated"][0]
    assert upd["changes"] == {"full_name": ["Thạch Thị Sa Rin", "Thạch Thị Sa Rinh"]}

    db.expire_all()
    binh = db.scalars(select(Student).where(Student.personal_id == "094207000002")).one()
    assert binh.school_id == b.id
    spans = db.scalars(select(Enrolment).where(Enrolment.student_id == binh.id).order_by(Enrolment.id)).all()
    assert [(e.school_id, e.ended_on is None) for e in spans] == [(a.id, False), (b.id, True)]


def test_headers_found_by_name_in_any_order_and_numeric_ids(client, db, schools, bearer_for):
    a, _, admin, _ = schools
    head = ["Số định danh cá nhân", "Mã lớp", "Họ và tên"]
    r = upload(client, bearer_for(admin), a.id, xlsx([[94207000009, "10A3", "Danh Sóc"]], head=head, title_rows=0))
    assert r.status_code == 200
    assert r.json()["rows"][0]["personal_id"] == "094207000009" and r.json()["summary"]["new"] == 1


def test_invalid_rows_block_apply_and_nothing_is_written(client, db, schools, bearer_for):
    a, _, admin, _ = schools
    h = bearer_for(admin)
    data = xlsx([row("094207000001", "Thạch Thị Sa Rin", "10A1"),
                 row("12345", "Sai Mã", "10A1"),
                 row("094207000005", "Robert'); DROP TABLE students;--", "10A1"),
                 row("094207000006", "Ngày Sai", "10A1", born="31/02/2009"),
                 row("094207000007", "Tương Lai", "10A1", born="01/01/2099"),
                 row("094207000001", "Trùng Mã", "10A1"),
                 row("094207000008", "Giới Tính", "10A1", gender="X")])
    r = upload(client, h, a.id, data)
    body = r.json()
    assert body["summary"]["invalid"] == 6 and body["summary"]["new"] == 1
    errors = {x["row_number"]: x["errors"] for x in body["rows"] if x["kind"] == "invalid"}
    assert "12 chữ số" in errors[6][0] and "Họ tên" in errors[7][0] and "dd/mm/yyyy" in errors[8][0]
    assert "ngoài khoảng" in errors[9][0] and "Trùng" in errors[10][0] and "Nam hoặc Nữ" in errors[11][0]
    r = client.post(f"/api/masterdata/imports/{body['batch_id']}/apply", headers=h)
    assert r.status_code == 422
    assert db.scalar(select(func.count()).select_from(Student)) == 0
    assert db.scalar(select(func.count()).select_from(SchoolClass)) == 0


@pytest.mark.parametrize("payload,fragment", [
    (b"", "rỗng"),
    (b"PK\x03\x04 this is not really a zip", "không phải"),
    (b"%PDF-1.4 a pdf renamed to xlsx", "không phải"),
    ("Họ tên;Mã lớp\n".encode(), "không phải"),
])
def test_malformed_files_are_rejected_with_clear_message(client, db, schools, bearer_for, payload, fragment):
    a, _, admin, _ = schools
    r = upload(client, bearer_for(admin), a.id, payload)
    assert r.status_code == 422 and fragment in r.json()["detail"].lower()
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_missing_headers_and_huge_upload_and_bad_year(client, db, schools, bearer_for, app):
    a, _, admin, _ = schools
    h = bearer_for(admin)
    r = upload(client, h, a.id, xlsx([["x", "y"]], head=["Tên", "Lớp học"]))
    assert r.status_code == 422 and "Số định danh cá nhân" in r.json()["detail"]
    big = b"PK" + b"\0" * (app.state.settings.max_upload_bytes + 10)
    assert upload(client, h, a.id, big).status_code == 413
    assert upload(client, h, a.id, xlsx([]), year="2025-2027").status_code == 422
    assert upload(client, h, 999999, xlsx([])).status_code == 404
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_school_admin_cannot_import_into_another_school(client, db, schools, bearer_for):
    a, b, _, admin_b = schools
    h = bearer_for(admin_b)
    assert upload(client, h, a.id, xlsx([row("094207000001", "Thạch Thị Sa Rin", "10A1")])).status_code == 403
    assert upload(client, h, b.id, xlsx([row("094207000001", "Thạch Thị Sa Rin", "11B1")])).status_code == 200


def test_province_code_94_becomes_92_from_july_2025(db, schools):
    assert province_code_on(db, dt.date(2025, 6, 30)) == "94"
    assert province_code_on(db, dt.date(2025, 7, 1)) == "92"
