"""MOET staff Excel import of teachers by header name: preview new/updated/moved/unchanged/invalid with reasons,
apply writes the valid rows only, a moved teacher leaves the old school, role rules, bad files → 4xx."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from sqlalchemy import func, select

from central_server.core.tables import AuditLog
from central_server.masterdata.service import create_school, create_teacher
from central_server.masterdata.tables import ClassTeacher, ImportBatch, SchoolClass, Teacher
from tests.central_server.masterdata.moet_xlsx import moet_workbook

# non-standard order, titles without diacritics or with notes, an unknown column ("Ghi chú")
HEAD = ["STT", "Email", "Môn dạy", "Ho va ten (*)", "Ma truong", "Ghi chú", "Số CCCD (12 số)", "Giới tính",
        "Ngày sinh", "Mã giáo viên", "Số điện thoại"]
FIRST_DATA_ROW = 4  # two title rows, the header on row 3


def xlsx(rows, head=HEAD, title_rows=2) -> bytes:
    return moet_workbook(rows, head, "CanBo", "SỞ GD&ĐT — DANH SÁCH CÁN BỘ, GIÁO VIÊN", title_rows)


def row(pid, name, staff, school="94000702", subject="Toán", email="", phone="", gender="Nữ", born="12/03/1985"):
    return [1, email, subject, name, school, "ghi chú bất kỳ", pid, gender, born, staff, phone]


@pytest.fixture()
def world(db, make_user):
    """Schools A and B; at A: teacher P1 with an account, a class and its homeroom; at B: P2, P3, P4 and a
    teacher recorded by hand with staff code GV09 only."""
    a = create_school(db, "94000701", "THPT Hoàng Diệu")
    b = create_school(db, "94000702", "THPT Mỹ Xuyên")
    db.commit()
    klass = SchoolClass(school_id=a.id, school_year="2025-2026", code="10A1", grade=10)
    db.add(klass)
    db.flush()
    gv_a = make_user("gv_a", "teacher", school_id=a.id)
    p1 = create_teacher(db, a.id, "GV01", "Lâm Thị Hoa", user=gv_a, class_ids=[klass.id])
    p1.personal_id, p1.email = "094185000001", "hoa@example.edu.vn"
    klass.homeroom_teacher_id = p1.id
    p2 = create_teacher(db, b.id, "GV02", "Trần Văn Nam")
    p2.personal_id, p2.subject, p2.gender, p2.birth_date = "094185000002", "Ngữ văn", "Nam", dt.date(1980, 1, 2)
    p3 = create_teacher(db, b.id, "GV03", "Sơn Thị Mai")
    p3.personal_id, p3.subject, p3.gender, p3.birth_date = "094185000003", "Hóa học", "Nữ", dt.date(1990, 5, 6)
    p3.email, p3.phone = "mai@example.edu.vn", "0912000003"
    p4 = create_teacher(db, b.id, "GV04", "Lý Thị Bảy")
    p4.personal_id = "094185000004"
    create_teacher(db, b.id, "GV09", "Danh Sóc")
    db.commit()
    users = {"province_admin": make_user("so_admin", "province_admin"),
             "province_staff": make_user("so_canbo", "province_staff"),
             "admin_a": make_user("admin_a", "school_admin", school_id=a.id),
             "admin_b": make_user("admin_b", "school_admin", school_id=b.id),
             "teacher": gv_a}
    return {"a": a, "b": b, "klass": klass, "users": users}


def upload(client, headers, school_id, data, name="gv.xlsx"):
    return client.post(f"/api/masterdata/schools/{school_id}/teacher-imports", headers=headers,
                       files={"file": (name, data, "application/octet-stream")})


def snapshot(db) -> list[tuple]:
    db.expire_all()
    return [(t.id, t.school_id, t.staff_code, t.full_name, t.personal_id, t.birth_date, t.gender, t.subject,
             t.email, t.phone, t.user_id) for t in db.scalars(select(Teacher).order_by(Teacher.id))]


def test_preview_lists_every_kind_with_reasons_then_apply_writes_only_valid_rows(client, db, world, bearer_for):
    b = world["b"]
    h = bearer_for(world["users"]["province_admin"])  # a move between schools is the province's (see transfer tests)
    data = xlsx([
        row(94185000005, "Thạch Thị Sa Rin", "GV05", email="SaRin@Example.edu.vn", phone=912345678,
            born=dt.datetime(1988, 7, 1)),                                           # 4 new (numeric id/phone)
        row("094185000001", "Lâm Thị Hoa", "GV11", subject="Tiếng Anh"),             # 5 moved from A
        row("094185000002", "Trần Văn Nam Anh", "GV02", subject="Ngữ văn", gender="Nam",
            born="02/01/1980"),                                                      # 6 updated (name, e-mail)
        row("094185000003", "Sơn Thị Mai", "GV03", subject="Hóa học", email="mai@example.edu.vn",
            phone="091 200 0003", born="06/05/1990"),                                # 7 unchanged
        [None] * len(HEAD),                                                          # 8 blank: skipped
        row("12345", "Sai Mã", "GV12"),                                              # 9 bad id
        row("094185000013", "", "GV13"),                                             # 10 no name
        row("094185000014", "Không Trường", "GV14", school="99999999"),              # 11 unknown school
        row("094185000005", "Trùng Người", "GV15"),                                  # 12 duplicate of row 4
        row("094185000009", "Danh Sóc", "GV09", subject="Sinh học"),                 # 13 completes GV09
        row("094185000016", "Trường Khác", "GV16", school="94000701"),               # 14 another school
        row("094185000017", "Thư Sai", "GV17", email="khong-phai-email"),            # 15 bad e-mail
        row("094185000018", "Mã Trùng", "GV04"),                                     # 16 GV04 belongs to P4
    ])
    before = snapshot(db)
    r = upload(client, h, b.id, data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == {"new": 1, "updated": 2, "moved": 1, "unchanged": 1, "invalid": 7}
    by_row = {x["row_number"]: x for x in body["rows"]}
    assert sorted(by_row) == [4, 5, 6, 7, *range(9, 17)]
    assert [by_row[n]["kind"] for n in (4, 5, 6, 7, 13)] == ["new", "moved", "updated", "unchanged", "updated"]
    assert by_row[4]["personal_id"] == "094185000005" and by_row[4]["staff_code"] == "GV05"
    assert by_row[5]["from_school"] == "94000701"
    assert by_row[5]["changes"]["staff_code"] == ["GV01", "GV11"]
    assert by_row[6]["changes"] == {"full_name": ["Trần Văn Nam", "Trần Văn Nam Anh"]}
    assert by_row[13]["changes"]["personal_id"] == [None, "094185000009"]
    reasons = {n: by_row[n]["errors"] for n in range(9, 17)}
    assert reasons[9] == ["Số định danh cá nhân phải gồm đúng 12 chữ số."]
    assert reasons[10] == ["Thiếu họ tên."]
    assert reasons[11] == ["Không tìm thấy trường có mã 99999999."]
    assert reasons[12] == ["Trùng số định danh với dòng 4."]
    assert reasons[14] == ["Dòng thuộc trường 94000701, không phải trường đang nhập (94000702)."]
    assert reasons[15] == ["Email không hợp lệ."]
    assert reasons[16] == ["Mã cán bộ GV04 đã thuộc một giáo viên khác của trường."]
    assert snapshot(db) == before  # the preview writes no teacher
    batch = db.get(ImportBatch, body["batch_id"])
    assert (batch.kind, batch.status, batch.school_id) == ("teachers", "previewed", b.id)

    r = client.post(f"/api/masterdata/imports/{body['batch_id']}/apply", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == body["summary"]
    assert client.post(f"/api/masterdata/imports/{body['batch_id']}/apply", headers=h).status_code == 409

    db.expire_all()
    teachers = {t.personal_id: t for t in db.scalars(select(Teacher))}
    assert set(teachers) == {"094185000001", "094185000002", "094185000003", "094185000004", "094185000005",
                             "094185000009"}
    new = teachers["094185000005"]
    assert (new.school_id, new.staff_code, new.full_name, new.email, new.phone, new.birth_date, new.gender) == \
        (b.id, "GV05", "Thạch Thị Sa Rin", "sarin@example.edu.vn", "0912345678", dt.date(1988, 7, 1), "Nữ")
    moved = teachers["094185000001"]
    assert (moved.school_id, moved.staff_code, moved.subject, moved.user_id) == (b.id, "GV11", "Tiếng Anh", None)
    assert db.scalar(select(func.count()).select_from(ClassTeacher).where(ClassTeacher.teacher_id == moved.id)) == 0
    assert db.get(SchoolClass, world["klass"].id).homeroom_teacher_id is None
    assert teachers["094185000002"].full_name == "Trần Văn Nam Anh"
    assert (teachers["094185000009"].staff_code, teachers["094185000009"].subject) == ("GV09", "Sinh học")
    assert teachers["094185000003"].phone == "0912000003"
    actions = db.execute(select(AuditLog.action, AuditLog.detail).where(
        AuditLog.action.in_(("masterdata.import_preview", "masterdata.import_apply"))).order_by(AuditLog.id)).all()
    assert [(act, d["kind"], d["new"], d["invalid"]) for act, d in actions] == [
        ("masterdata.import_preview", "teachers", 1, 7), ("masterdata.import_apply", "teachers", 1, 7)]


def test_standard_titles_and_columns_absent_from_the_file_are_kept(client, db, world, bearer_for):
    """The plain MOET titles, no title row; a file without e-mail / phone columns does not erase them."""
    b = world["b"]
    h = bearer_for(world["users"]["province_admin"])
    head = ["Mã cán bộ", "Họ và tên", "Số định danh cá nhân", "Môn dạy"]
    r = upload(client, h, b.id, xlsx([["GV03", "Sơn Thị Mai", "094185000003", "Hóa học"],
                                      ["GV21", "Lý Văn Tư", "094185000021", "Vật lí"]], head=head, title_rows=0))
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == {"new": 1, "updated": 0, "moved": 0, "unchanged": 1, "invalid": 0}
    assert client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h).status_code == 200
    db.expire_all()
    mai = db.scalars(select(Teacher).where(Teacher.personal_id == "094185000003")).one()
    assert (mai.email, mai.phone, mai.birth_date) == ("mai@example.edu.vn", "0912000003", dt.date(1990, 5, 6))
    tu = db.scalars(select(Teacher).where(Teacher.personal_id == "094185000021")).one()
    assert (tu.school_id, tu.staff_code, tu.subject, tu.email) == (b.id, "GV21", "Vật lí", "")


def test_a_file_of_invalid_rows_only_writes_nothing(client, db, world, bearer_for):
    b = world["b"]
    h = bearer_for(world["users"]["admin_b"])
    before = snapshot(db)
    r = upload(client, h, b.id, xlsx([row("0941850000", "Thiếu Số", "GV31"), row("094185000032", "", "GV32")]))
    assert r.status_code == 200 and r.json()["summary"]["invalid"] == 2
    r2 = client.post(f"/api/masterdata/imports/{r.json()['batch_id']}/apply", headers=h)
    assert r2.status_code == 422 and "không có dòng hợp lệ" in r2.json()["detail"]
    assert snapshot(db) == before
    db.expire_all()
    assert db.get(ImportBatch, r.json()["batch_id"]).status == "previewed"


def test_roles_school_admin_of_another_school_teacher_and_staff_are_denied(client, db, world, bearer_for):
    a, b, users = world["a"], world["b"], world["users"]
    data = xlsx([row("094185000041", "Kim Thị Sương", "GV41", school="94000701")])
    before = snapshot(db)
    for who in ("admin_b", "teacher", "province_staff"):
        assert upload(client, bearer_for(users[who]), a.id, data).status_code == 403, who
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0
    r = upload(client, bearer_for(users["admin_a"]), a.id, data)
    assert r.status_code == 200 and r.json()["summary"]["new"] == 1
    batch_id = r.json()["batch_id"]
    for who in ("admin_b", "teacher", "province_staff"):  # nor may they apply A's batch
        assert client.post(f"/api/masterdata/imports/{batch_id}/apply",
                           headers=bearer_for(users[who])).status_code == 403, who
    assert snapshot(db) == before
    assert client.post(f"/api/masterdata/imports/{batch_id}/apply",
                       headers=bearer_for(users["province_admin"])).status_code == 200
    db.expire_all()
    assert db.scalars(select(Teacher.school_id).where(Teacher.personal_id == "094185000041")).one() == a.id
    assert upload(client, bearer_for(users["province_admin"]), b.id, xlsx([])).status_code == 200


def broken_sheet() -> bytes:
    """A real .xlsx whose worksheet XML is cut off after the header row (read-only openpyxl parses it lazily)."""
    good = zipfile.ZipFile(io.BytesIO(xlsx([row("094185000061", "Cắt Cụt", "GV61")], title_rows=0)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in good.infolist():
            body = good.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = body[:body.index(b"</row>") + 6] + b"<row r='2'><c r='A2' t='inlineStr'><is><t>x"
            z.writestr(item, body)
    return out.getvalue()


@pytest.mark.parametrize("payload,fragment", [
    (b"", "rỗng"),
    (broken_sheet(), "không đọc được"),
    (b"PK\x03\x04 this is not really a zip", "không phải"),
    (b"%PDF-1.4 a pdf renamed to xlsx", "không phải"),
    ("Mã cán bộ;Họ và tên;Số định danh cá nhân\nGV01;A;094185000001\n".encode(), "không phải"),
])
def test_malformed_files_are_rejected_and_nothing_is_written(client, db, world, bearer_for, payload, fragment):
    before = snapshot(db)
    r = upload(client, bearer_for(world["users"]["admin_b"]), world["b"].id, payload)
    assert r.status_code == 422 and fragment in r.json()["detail"].lower()
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert snapshot(db) == before


def test_missing_required_titles_and_oversize_upload(client, db, world, bearer_for, app):
    h = bearer_for(world["users"]["admin_b"])
    r = upload(client, h, world["b"].id, xlsx([["GV01", "Lâm Thị Hoa"]], head=["Mã cán bộ", "Họ và tên"]))
    assert r.status_code == 422
    assert "Mã cán bộ, Họ và tên, Số định danh cá nhân" in r.json()["detail"]
    big = b"PK" + b"\0" * (app.state.settings.max_upload_bytes + 10)
    assert upload(client, h, world["b"].id, big).status_code == 413
    assert upload(client, h, 999999, xlsx([])).status_code == 404
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_web_page_preview_and_apply(db, world, client_for):
    b = world["b"]
    browser = client_for(world["users"]["admin_b"])
    page = browser.get("/masterdata/import")
    assert page.status_code == 200 and 'id="teacher-import-form"' in page.text
    r = browser.post("/masterdata/import/teachers", data={"school_id": str(b.id)},
                     files={"file": ("gv.xlsx", xlsx([row("094185000051", "Huỳnh Văn Lợi", "GV51"),
                                                      row("1", "Sai Số", "GV52")]), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert 'id="import-skipped"' in r.text and 'id="import-apply"' in r.text
    assert "Số định danh cá nhân phải gồm đúng 12 chữ số." in r.text and "GV51" in r.text
    batch_id = db.scalars(select(ImportBatch.id).where(ImportBatch.kind == "teachers")).one()
    done = browser.post(f"/masterdata/import/{batch_id}/apply")
    assert done.status_code == 200 and "1 giáo viên mới" in done.text and "bỏ qua 1 dòng" in done.text
    db.expire_all()
    assert db.scalars(select(Teacher.staff_code).where(Teacher.personal_id == "094185000051")).one() == "GV51"


def test_student_preview_page_shares_the_template_and_stays_all_or_nothing(db, world, client_for):
    """The preview page generalised for teachers still shows a student file as before: class column, blocked."""
    browser = client_for(world["users"]["admin_b"])
    head = ["Số định danh cá nhân", "Mã lớp", "Họ và tên"]
    data = xlsx([["094207000001", "11B1", "Thạch Thị Sa Rin"], ["123", "11B1", "Sai Số"]], head=head, title_rows=0)
    r = browser.post("/masterdata/import", data={"school_id": str(world["b"].id), "school_year": "2025-2026"},
                     files={"file": ("hs.xlsx", data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert "<th>Lớp</th>" in r.text and 'id="import-blocked"' in r.text and 'id="import-apply"' not in r.text
    assert db.scalars(select(ImportBatch.kind)).one() == "students"
