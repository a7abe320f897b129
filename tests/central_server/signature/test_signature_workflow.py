"""The record workflow through the real app (SQLite AND PostgreSQL): enter → lock → homeroom verifies →
principal signs (PKCS#12 upload) → school signs (remote CSC); admin unlock makes a new, logged version while
the old signed one stays verifiable; public verification by upload and by the QR page."""

from __future__ import annotations

import pytest
from conftest import P12_PASSWORD  # noqa: I001  (the suite's conftest: pilot PKI constants)
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import select

from central_server.core.tables import AuditLog
from central_server.masterdata.service import create_school
from central_server.masterdata.tables import SchoolClass, Teacher
from central_server.signature.config import SignatureSettings
from central_server.signature.tables import SignatureDocument
from central_server.signature.validation import verify_pdf
from tests.central_server.conftest import arm_csrf

SIG_TABLES = {"signature_documents", "signature_versions", "signature_applied", "signature_changes"}
RECORD = {"kind": "record", "title": "TRÍCH SỔ ĐIỂM HỌC KỲ I — LỚP 10A1 — MÔN NGỮ VĂN",
          "school_name": "Trường THPT Hoàng Diệu", "info_lines": ["Năm học 2025-2026", "Giáo viên bộ môn: Lê Minh Tâm"],
          "columns": ["STT", "Họ và tên", "ĐĐGtx", "ĐĐGgk", "ĐĐGck", "ĐTBmhk"],
          "rows": [["1", "Trần Thị Ánh Tuyết", "8", "7.5", "8", "7.9"], ["2", "Lâm Sóc Kha", "6", "6.5", "7", "6.6"]]}


@pytest.fixture()
def sig_app(app, pki, remote, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
    app.state.signature_settings = SignatureSettings(
        _env_file=None, public_base_url="https://giaoduc.example.vn", default_level="B-LT", tsa_url=pki.tsa_url,
        trust_roots=[root], csc_service_url=remote.service_url)
    return app


@pytest.fixture()
def people(make_user, db):
    a, b = create_school(db, "94000707", "THPT Hoàng Diệu"), create_school(db, "94000708", "THPT Khác")
    db.commit()
    people = {"teacher": make_user("gv_tam", "teacher", school_id=a.id, full_name="Lê Minh Tâm"),
              "homeroom": make_user("gvcn_hoa", "teacher", school_id=a.id, full_name="Nguyễn Thị Hoa"),
              "principal": make_user("ht_binh", "school_admin", school_id=a.id, full_name="Trần Văn Bình"),
              "other": make_user("gv_khac", "teacher", school_id=b.id, full_name="Giáo viên trường khác")}
    homeroom = Teacher(school_id=a.id, staff_code="GV-HOA", full_name="Nguyễn Thị Hoa", user_id=people["homeroom"].id)
    db.add(homeroom)
    db.flush()
    klass = SchoolClass(school_id=a.id, school_year="2025-2026", code="10A1", grade=10,
                        homeroom_teacher_id=homeroom.id)
    db.add(klass)
    db.commit()
    RECORD["class_id"] = klass.id
    return people


def p12_form(pki, issued, field, password=P12_PASSWORD):
    return {"data": {"field": field, "method": "pkcs12", "password": password},
            "files": {"p12": ("chung-thu.p12", issued.pkcs12(P12_PASSWORD), "application/x-pkcs12")}}


def test_signature_migration_matches_tables(db_url, schema_diff):
    from central_server.core.migrate import upgrade

    upgrade(db_url)
    assert schema_diff(db_url, SIG_TABLES) == []


def test_record_workflow_sign_unlock_and_verify(sig_app, db, people, bearer_for, client_for, pki, remote,
                                                pdfsig, tmp_path):
    t, h, p = (bearer_for(people[k]) for k in ("teacher", "homeroom", "principal"))
    c = client_for(people["teacher"])
    r = c.post("/api/signature/documents", json=RECORD, headers=t)
    assert r.status_code == 201, r.text
    doc_id = r.json()["id"]
    r = c.patch(f"/api/signature/documents/{doc_id}/cells", headers=t,
                json={"edits": [{"row": 1, "col": 5, "value": "6.7"}], "reason": "nhập nhầm"})
    assert r.status_code == 200 and r.json()["content"]["rows"][1][5] == "6.7"
    assert c.post(f"/api/signature/documents/{doc_id}/lock", headers=t).json()["status"] == "locked"
    locked = c.patch(f"/api/signature/documents/{doc_id}/cells", headers=t,
                     json={"edits": [{"row": 0, "col": 5, "value": "9"}]})
    assert locked.status_code == 409 and "mở khoá" in locked.json()["detail"]
    early = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p, **p12_form(pki, pki.principal, "HieuTruong"))
    assert early.status_code == 409  # principal cannot sign before the homeroom check
    assert c.post(f"/api/signature/documents/{doc_id}/verify-record", headers=h).json()["status"] == "verified"
    # wrong password: clear message, nothing changes
    bad = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p,
                 **p12_form(pki, pki.principal, "HieuTruong", password="sai-mat-khau"))
    assert bad.status_code == 400 and "Sai mật khẩu" in bad.json()["detail"]
    assert c.get(f"/api/signature/documents/{doc_id}", headers=p).json()["status"] == "verified"
    ok = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p, **p12_form(pki, pki.principal, "HieuTruong"))
    assert ok.status_code == 200 and ok.json()["status"] == "principal_signed", ok.text
    wrong_pin = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p,
                       data={"field": "NhaTruong", "method": "remote", "credential_id": remote.credential_id,
                             "pin": "000000"})
    assert wrong_pin.status_code == 400 and "Sai mã PIN" in wrong_pin.json()["detail"]
    done = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p,
                  data={"field": "NhaTruong", "method": "remote", "credential_id": remote.credential_id,
                        "pin": remote.pin})
    assert done.status_code == 200 and done.json()["status"] == "completed", done.text
    sigs = done.json()["versions"][0]["signatures"]
    assert [(s["field_name"], s["method"], s["level"]) for s in sigs] == [
        ("HieuTruong", "pkcs12", "B-LT"), ("NhaTruong", "remote", "B-LT")]
    v1 = c.get(f"/api/signature/documents/{doc_id}/versions/1.pdf", headers=p).content
    report = verify_pdf(v1, pki.roots)
    assert report.verdict == "valid" and [s.signer for s in report.signatures] == ["Trần Văn Bình", "Phạm Quốc Việt"]
    (tmp_path / "v1.pdf").write_bytes(v1)
    blocks = pdfsig(tmp_path / "v1.pdf").split("Signature #")[1:]
    assert len(blocks) == 2 and all("Signature is Valid." in b for b in blocks)

    # a later change: only an admin unlock, which makes version 2 and is logged
    denied = c.post(f"/api/signature/documents/{doc_id}/unlock", headers=t, json={"reason": "sửa điểm"})
    assert denied.status_code == 403
    un = c.post(f"/api/signature/documents/{doc_id}/unlock", headers=p, json={"reason": "Phúc khảo điểm cuối kỳ"})
    assert un.status_code == 200 and un.json()["current_version"] == 2 and un.json()["status"] == "draft"
    c.patch(f"/api/signature/documents/{doc_id}/cells", headers=t,
            json={"edits": [{"row": 1, "col": 4, "value": "7.5"}], "reason": "phúc khảo"})
    log = c.get(f"/api/signature/documents/{doc_id}/changes", headers=p).json()
    assert [(e["action"], e["location"], e["old_value"], e["new_value"]) for e in log] == [
        ("edit", "rows[1][5]", "6.6", "6.7"), ("unlock", "status", "v1:completed", "v2:draft"),
        ("edit", "rows[1][4]", "7", "7.5")]
    assert log[1]["changed_by"] == people["principal"].id and log[1]["reason"] == "Phúc khảo điểm cuối kỳ"
    # the old signed version is kept and still verifies; the public endpoint says it was superseded
    with TestClient(sig_app) as public:  # public endpoints: no login
        arm_csrf(public, "/signature/verify")  # the public form's CSRF token (anonymous cookie)
        res = public.post("/signature/verify", files={"file": ("v1.pdf", v1, "application/pdf")},
                          headers={"accept": "application/json"})
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["verdict"] == "valid" and body["registered"]["version"] == 1 and body["registered"]["superseded"]
        page = public.get(f"/signature/d/{doc_id}")
        assert page.status_code == 200 and "Phạm Quốc Việt" in page.text and "Lâm Sóc Kha" not in page.text
    actions = set(db.scalars(select(AuditLog.action).where(AuditLog.target == f"signature_document:{doc_id}")))
    assert {"signature.create", "signature.lock", "signature.verify_record", "signature.sign",
            "signature.unlock", "signature.edit"} <= actions


def test_attendance_signed_by_teacher_page_and_tampered_upload(sig_app, people, client_for, pki):
    c = client_for(people["teacher"])
    body = {**RECORD, "kind": "attendance", "title": "ĐIỂM DANH TIẾT 3 — 10A1 — 15/09/2025",
            "columns": ["STT", "Họ và tên", "Trạng thái"], "rows": [["1", "Trần Thị Ánh Tuyết", "Có mặt"],
                                                                   ["2", "Lâm Sóc Kha", "Vắng K"]]}
    doc_id = c.post("/api/signature/documents", json=body).json()["id"]
    assert c.post(f"/signature/documents/{doc_id}/lock", follow_redirects=False).status_code == 303
    teacher = pki.new_teacher("Lê Minh Tâm")
    form = p12_form(pki, teacher, "GiaoVien")
    r = c.post(f"/signature/documents/{doc_id}/sign", follow_redirects=False, **form)
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"])
    assert "Đã ký số thành công" in page.text and "Hoàn tất" in page.text
    pdf = c.get(f"/api/signature/documents/{doc_id}/versions/1.pdf").content
    tampered = bytearray(pdf)
    tampered[len(pdf) // 3] ^= 0x01
    res = c.post("/signature/verify", files={"file": ("x.pdf", bytes(tampered), "application/pdf")},
                 headers={"accept": "text/html"})
    assert res.status_code == 200 and "KHÔNG HỢP LỆ" in res.text and "không trùng với bản nào" in res.text
    good = c.post("/signature/verify", files={"file": ("x.pdf", pdf, "application/pdf")},
                  headers={"accept": "text/html"})
    assert "hợp lệ" in good.text and "Lê Minh Tâm" in good.text and "trùng khớp với phiên bản 1" in good.text
    junk = c.post("/signature/verify", files={"file": ("x.pdf", b"not a pdf", "application/pdf")},
                  headers={"accept": "application/json"})
    assert junk.status_code == 422 and "PDF" in junk.json()["detail"]


def test_revoked_teacher_cannot_sign_and_nothing_changes(sig_app, db, people, client_for, pki):
    c = client_for(people["teacher"])
    doc_id = c.post("/api/signature/documents", json={**RECORD, "kind": "attendance"}).json()["id"]
    c.post(f"/api/signature/documents/{doc_id}/lock")
    teacher = pki.new_teacher("Lê Minh Tâm")
    pki.ca.revoke(teacher.cert.serial_number, "key_compromise")
    r = c.post(f"/signature/documents/{doc_id}/sign", **p12_form(pki, teacher, "GiaoVien"))
    assert r.status_code == 400 and "thu hồi" in r.text
    assert c.get(f"/api/signature/documents/{doc_id}").json()["status"] == "locked"
    refused = db.scalars(select(AuditLog).where(AuditLog.action == "signature.sign",
                                                AuditLog.outcome == "refused")).all()
    assert refused and refused[-1].detail["code"] == "revoked"


def test_other_school_and_wrong_role_are_refused(sig_app, people, bearer_for, client_for):
    c = client_for(people["teacher"])
    doc_id = c.post("/api/signature/documents", json=RECORD).json()["id"]
    other = bearer_for(people["other"])
    assert c.get(f"/api/signature/documents/{doc_id}", headers=other).status_code == 403
    c.post(f"/api/signature/documents/{doc_id}/lock")
    principal = bearer_for(people["principal"])
    assert c.post(f"/api/signature/documents/{doc_id}/verify-record", headers=principal).status_code == 403
    assert c.get("/api/signature/documents/khong-ton-tai").status_code == 404


def test_documents_stay_in_their_school_and_class(sig_app, db, people, make_user, bearer_for, client_for):
    """Issue 15 item 5: no document for another school; only the class's homeroom teacher verifies a record;
    a teacher opens only their own documents and their classes' ones (SQLite and PostgreSQL)."""
    t = client_for(people["teacher"])
    principal = bearer_for(people["principal"])
    other_school = people["other"].school_id
    for who in (None, principal):
        for kind in ("attendance", "record"):
            r = t.post("/api/signature/documents", json={**RECORD, "kind": kind, "school_id": other_school},
                       headers=who or {})
            assert r.status_code == 403 and "trường khác" in r.json()["detail"], (kind, r.text)
    assert t.post("/api/signature/documents", json={k: v for k, v in RECORD.items() if k != "class_id"}
                  ).status_code == 422
    b_class = SchoolClass(school_id=other_school, school_year="2025-2026", code="10B1", grade=10)
    db.add(b_class)
    db.commit()
    assert t.post("/api/signature/documents", json={**RECORD, "class_id": b_class.id}).status_code == 403
    assert db.query(SignatureDocument).count() == 0
    doc_id = t.post("/api/signature/documents", json=RECORD).json()["id"]
    assert t.post(f"/api/signature/documents/{doc_id}/lock").json()["status"] == "locked"
    bystander = make_user("gv_ngoai", "teacher", school_id=people["teacher"].school_id)
    for who in (people["teacher"], people["principal"], bystander):  # creator, principal, a colleague: not GVCN
        r = t.post(f"/api/signature/documents/{doc_id}/verify-record", headers=bearer_for(who))
        assert r.status_code == 403, (who.username, r.text)
    assert t.get(f"/api/signature/documents/{doc_id}", headers=bearer_for(bystander)).status_code == 403
    listing = client_for(bystander).get("/signature", headers={"accept": "text/html"})
    assert listing.status_code == 200 and doc_id not in listing.text
    assert doc_id in client_for(people["homeroom"]).get("/signature").text
    r = t.post(f"/api/signature/documents/{doc_id}/verify-record", headers=bearer_for(people["homeroom"]))
    assert r.status_code == 200 and r.json()["status"] == "verified"
