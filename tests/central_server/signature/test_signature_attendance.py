"""Signing a class's finalised attendance straight from the attendance module (SQLite AND PostgreSQL):
finalised marks → PDF with the names and statuses → teacher signs (PKCS#12, PAdES B-T) → valid for pyHanko
and pdfsig; a period / month not fully finalised is refused and nothing is created; another teacher's class
is 403; a correction of a mark after signing leaves the signed version verifiable and needs a new version."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess

import pytest
from conftest import P12_PASSWORD  # noqa: I001  (the suite's conftest: pilot PKI constants)
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from central_server.attendance.service import apply_event
from central_server.core.clock import local_today
from central_server.core.tables import AuditLog
from central_server.masterdata.service import create_school, create_teacher, school_year_of
from central_server.masterdata.tables import SchoolClass, Student
from central_server.signature.config import SignatureSettings
from central_server.signature.tables import SignatureChange, SignatureDocument
from central_server.signature.validation import verify_pdf
from edge_agent.protocol import AttendancePayload, EventKind, Source, new_event

SCHOOL_CODE = "94000801"
_seq = itertools.count(1)
TODAY = local_today()
DAY = TODAY - dt.timedelta(days=3)
PREV_MONTH_END = TODAY.replace(day=1) - dt.timedelta(days=1)
PREV_MONTH = f"{PREV_MONTH_END:%Y-%m}"


@pytest.fixture()
def sig_app(app, pki, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
    app.state.signature_settings = SignatureSettings(
        _env_file=None, public_base_url="https://giaoduc.example.vn", default_level="B-T", tsa_url=pki.tsa_url,
        trust_roots=[root])
    return app


@pytest.fixture()
def cls(db, make_user):
    """School with 10A1 (homeroom: gv_hoa, 3 students) and 10A2 (taught by gv_khac, 1 student)."""
    school = create_school(db, SCHOOL_CODE, "Trường THPT Hoàng Diệu")
    year = school_year_of(DAY)
    a1 = SchoolClass(school_id=school.id, school_year=year, code="10A1", grade=10)
    a2 = SchoolClass(school_id=school.id, school_year=year, code="10A2", grade=10)
    db.add_all([a1, a2])
    db.flush()
    names = ["Trần Thị Ánh Tuyết", "Lâm Sóc Kha", "Nguyễn Văn Đức"]
    students = [Student(personal_id=f"0942080{i:05d}", full_name=n, school_id=school.id, class_id=a1.id,
                        birth_date=dt.date(2010, 3, i + 1)) for i, n in enumerate(names)]
    other = Student(personal_id="094208099999", full_name="Phạm Thị Mỹ", school_id=school.id, class_id=a2.id)
    db.add_all([*students, other])
    db.commit()
    users = {"teacher": make_user("gv_hoa", "teacher", school_id=school.id, full_name="Nguyễn Thị Hoa"),
             "other_teacher": make_user("gv_khac", "teacher", school_id=school.id, full_name="Lê Văn Khác"),
             "admin": make_user("ht_hd", "school_admin", school_id=school.id, full_name="Trần Văn Bình"),
             "admin_other": make_user("ht_khac", "school_admin", school_id=school.id + 1000)}
    t = create_teacher(db, school.id, "GV01", "Nguyễn Thị Hoa", users["teacher"])
    a1.homeroom_teacher_id = t.id
    create_teacher(db, school.id, "GV02", "Lê Văn Khác", users["other_teacher"], class_ids=[a2.id])
    db.commit()
    return {"school": school, "a1": a1, "a2": a2, "students": students, "other": other, "users": users}


def mark(db, settings, student, day, period, status, kind="attendance.finalised", reason="", minute=0,
         session=None):
    kind = EventKind(kind)
    source = Source(kind="camera", camera_id="cam-1") if kind is EventKind.ATTENDANCE_PROPOSED else \
        Source(kind="teacher", teacher_id="GV01")
    payload = AttendancePayload(student_id=student.personal_id, class_code="10A1", date=day, period=period,
                                session=session, status=status, source=source, reason=reason or None,
                                observed_at=dt.datetime.combine(day, dt.time(8, minute), dt.UTC))
    assert apply_event(db, new_event(SCHOOL_CODE, next(_seq), kind, payload, b"k" * 32), settings).outcome == "applied"
    db.commit()


def finalise_period(db, settings, cls, statuses, period=3, day=DAY):
    for s, (status, reason) in zip(cls["students"], statuses, strict=True):
        mark(db, settings, s, day, period, status, reason=reason)


def p12_form(issued):
    return {"data": {"field": "GiaoVien", "method": "pkcs12", "password": P12_PASSWORD},
            "files": {"p12": ("gv.p12", issued.pkcs12(P12_PASSWORD), "application/x-pkcs12")}}


def pdf_text(pdf: bytes, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def sign_and_check(c, doc_id, version, pki, teacher, pdfsig, tmp_path) -> bytes:
    """Sign the locked version as the teacher (PKCS#12 upload, B-T) and check it with pyHanko and pdfsig."""
    r = c.post(f"/api/signature/documents/{doc_id}/sign", **p12_form(teacher))
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    pdf = c.get(f"/api/signature/documents/{doc_id}/versions/{version}.pdf").content
    check_signed(pdf, pki, pdfsig, tmp_path, f"signed-v{version}")
    return pdf


def check_signed(pdf, pki, pdfsig, tmp_path, name):
    report = verify_pdf(pdf, pki.roots)
    assert report.verdict == "valid", report.message
    (sig,) = report.signatures
    assert sig.signer == "Nguyễn Thị Hoa" and sig.timestamp is not None and sig.pades_level.startswith("B-T")
    (tmp_path / f"{name}.pdf").write_bytes(pdf)
    out = pdfsig(tmp_path / f"{name}.pdf")
    assert "Signature is Valid." in out and "Total document signed" in out, out


def test_period_signed_from_finalised_marks_then_corrected(sig_app, db, settings, cls, client_for, bearer_for,
                                                           pki, pdfsig, tmp_path):
    finalise_period(db, settings, cls, [("present", ""), ("K", "Không liên lạc được gia đình"), ("late", "")])
    c = client_for(cls["users"]["teacher"])
    r = c.post("/api/signature/attendance/period", json={"class_id": cls["a1"].id, "day": DAY.isoformat(),
                                                         "period": 3})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["kind"] == "attendance" and doc["status"] == "draft" and "TIẾT 3" in doc["title"]
    rows = {row[1]: row[3:] for row in doc["content"]["rows"]}
    assert rows == {"Trần Thị Ánh Tuyết": ["Có mặt", ""], "Lâm Sóc Kha": ["Vắng không phép (K)",
                                                                          "Không liên lạc được gia đình"],
                    "Nguyễn Văn Đức": ["Đi muộn", ""]}
    doc_id = doc["id"]
    assert c.post(f"/api/signature/documents/{doc_id}/lock").json()["status"] == "locked"
    text = pdf_text(c.get(f"/api/signature/documents/{doc_id}/versions/1.pdf").content, tmp_path, "locked")
    for expected in ("Trần Thị Ánh Tuyết", "Lâm Sóc Kha", "Nguyễn Văn Đức", "Vắng không phép (K)", "Đi muộn",
                     "Có mặt", "TRƯỜNG THPT HOÀNG DIỆU", doc_id, "10A1"):
        assert expected in text, expected
    teacher = pki.new_teacher("Nguyễn Thị Hoa")
    v1 = sign_and_check(c, doc_id, 1, pki, teacher, pdfsig, tmp_path)
    assert c.get(f"/api/signature/documents/{doc_id}/attendance-source").json()["changed"] is False

    # the family calls the next day: the K becomes a P (a later finalised event in the attendance module)
    mark(db, settings, cls["students"][1], DAY, 3, "P", reason="Gia đình xin phép", minute=30)
    state = c.get(f"/api/signature/documents/{doc_id}/attendance-source").json()
    assert state["changed"] and {"location": "rows[1][3]", "old": "Vắng không phép (K)",
                                 "new": "Vắng có phép (P)"} in state["differences"]
    page = c.get(f"/signature/documents/{doc_id}")
    assert "Dữ liệu điểm danh đã thay đổi" in page.text and "mở khoá" in page.text
    # the signed version never changes and stays valid; a new version is needed (admin unlock)
    assert c.get(f"/api/signature/documents/{doc_id}/versions/1.pdf").content == v1
    check_signed(v1, pki, pdfsig, tmp_path, "v1-after-correction")
    refused = c.post(f"/api/signature/documents/{doc_id}/attendance-refresh")
    assert refused.status_code == 409 and "mở khoá" in refused.json()["detail"]
    assert c.post(f"/api/signature/documents/{doc_id}/unlock", json={"reason": "sửa điểm danh"}).status_code == 403
    admin = bearer_for(cls["users"]["admin"])
    un = c.post(f"/api/signature/documents/{doc_id}/unlock", headers=admin,
                json={"reason": "Phụ huynh xin phép muộn"})
    assert un.status_code == 200 and un.json()["current_version"] == 2
    stale = c.post(f"/api/signature/documents/{doc_id}/lock")  # v2 still holds the old table
    assert stale.status_code == 409 and "thay đổi" in stale.json()["detail"]
    assert c.post(f"/signature/documents/{doc_id}/attendance-refresh", follow_redirects=False).status_code == 303
    v2 = c.get(f"/api/signature/documents/{doc_id}").json()
    assert v2["content"]["rows"][1][3:] == ["Vắng có phép (P)", "Gia đình xin phép"]
    log = [(x.version, x.action, x.location, x.old_value, x.new_value) for x in db.scalars(
        select(SignatureChange).where(SignatureChange.document_id == doc_id).order_by(SignatureChange.id))]
    assert (2, "edit", "rows[1][3]", "Vắng không phép (K)", "Vắng có phép (P)") in log
    assert log[0][1] == "unlock"
    assert c.post(f"/api/signature/documents/{doc_id}/lock").json()["status"] == "locked"
    v2_pdf = sign_and_check(c, doc_id, 2, pki, teacher, pdfsig, tmp_path)
    assert "Vắng có phép (P)" in pdf_text(v2_pdf, tmp_path, "v2")
    assert "Vắng không phép (K)" in pdf_text(v1, tmp_path, "v1")
    actions = set(db.scalars(select(AuditLog.action).where(AuditLog.target == f"signature_document:{doc_id}")))
    assert {"signature.attendance_create", "signature.attendance_refresh", "signature.sign"} <= actions


def test_month_totals_signed(sig_app, db, settings, cls, client_for, pki, pdfsig, tmp_path):
    d1, d2 = PREV_MONTH_END - dt.timedelta(days=2), PREV_MONTH_END - dt.timedelta(days=1)
    tuyet, kha, duc = cls["students"]
    for day in (d1, d2):
        for p in (1, 2):
            mark(db, settings, tuyet, day, p, "present")
            mark(db, settings, duc, day, p, "late" if p == 1 else "present")
    mark(db, settings, kha, d1, 1, "K")
    mark(db, settings, kha, d1, 2, "K")
    mark(db, settings, kha, d2, None, "P", session="morning", reason="Ốm")  # whole session
    c = client_for(cls["users"]["teacher"])
    r = c.post("/api/signature/attendance/month", json={"class_id": cls["a1"].id, "month": PREV_MONTH})
    assert r.status_code == 201, r.text
    rows = {row[1]: row[2:6] for row in r.json()["content"]["rows"]}
    assert rows == {"Trần Thị Ánh Tuyết": ["2", "0", "0", "0"], "Lâm Sóc Kha": ["0", "1", "1", "2"],
                    "Nguyễn Văn Đức": ["2", "0", "0", "0"]}
    doc_id = r.json()["id"]
    assert c.post(f"/signature/documents/{doc_id}/lock", follow_redirects=False).status_code == 303
    text = pdf_text(c.get(f"/api/signature/documents/{doc_id}/versions/1.pdf").content, tmp_path, "month")
    assert f"THÁNG {PREV_MONTH_END:%m/%Y}" in text and "Lâm Sóc Kha" in text and "Tổng vắng" in text
    sign_and_check(c, doc_id, 1, pki, pki.new_teacher("Nguyễn Thị Hoa"), pdfsig, tmp_path)


def _doc_count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(SignatureDocument))


def test_not_finalised_is_refused_and_nothing_created(sig_app, db, settings, cls, client_for):
    tuyet, kha, duc = cls["students"]
    mark(db, settings, tuyet, DAY, 2, "present")
    mark(db, settings, kha, DAY, 2, "absent_proposed", kind="attendance.proposed")  # camera only
    mark(db, settings, duc, DAY, 2, "present")
    mark(db, settings, tuyet, DAY, 4, "present")  # period 4: Kha and Đức have no mark at all
    c = client_for(cls["users"]["teacher"])
    for period, who in ((2, ["Lâm Sóc Kha"]), (4, ["Lâm Sóc Kha", "Nguyễn Văn Đức"])):
        r = c.post("/api/signature/attendance/period", json={"class_id": cls["a1"].id, "day": DAY.isoformat(),
                                                             "period": period})
        assert r.status_code == 409 and "chưa được chốt" in r.json()["detail"], r.text
        assert all(name in r.json()["detail"] for name in who)
    none = c.post("/api/signature/attendance/period", json={"class_id": cls["a1"].id, "day": DAY.isoformat(),
                                                            "period": 7})
    assert none.status_code == 409 and "chưa có điểm danh" in none.json()["detail"]
    page = c.post("/signature/attendance", data={"kind": "period", "class_id": cls["a1"].id,
                                                 "day": DAY.isoformat(), "period": "2"})
    assert page.status_code == 409 and "chưa được chốt" in page.text
    # the month: the current one is not over; the previous one has an open (proposed-only) session
    cur = c.post("/api/signature/attendance/month", json={"class_id": cls["a1"].id, "month": f"{TODAY:%Y-%m}"})
    assert cur.status_code == 409 and "chưa kết thúc" in cur.json()["detail"]
    mark(db, settings, tuyet, PREV_MONTH_END, 1, "present")
    mark(db, settings, kha, PREV_MONTH_END, 1, "present", kind="attendance.corrected")
    prev = c.post("/api/signature/attendance/month", json={"class_id": cls["a1"].id, "month": PREV_MONTH})
    assert prev.status_code == 409 and "Lâm Sóc Kha" in prev.json()["detail"]
    bad = c.post("/api/signature/attendance/month", json={"class_id": cls["a1"].id, "month": "2025-13"})
    assert bad.status_code == 422
    assert _doc_count(db) == 0


def test_other_teachers_class_is_403_and_roles(sig_app, db, settings, cls, client_for, bearer_for):
    other = cls["other"]
    mark(db, settings, other, DAY, 1, "present")
    finalise_period(db, settings, cls, [("present", "")] * 3, period=1)
    body = {"class_id": cls["a2"].id, "day": DAY.isoformat(), "period": 1}
    hoa = client_for(cls["users"]["teacher"])
    r = hoa.post("/api/signature/attendance/period", json=body)
    assert r.status_code == 403 and "không phải giáo viên của lớp 10A2" in r.json()["detail"]
    assert hoa.get("/api/signature/attendance/period", params=body).status_code == 403
    page = hoa.post("/signature/attendance", data={**body, "kind": "period"})
    assert page.status_code == 403
    # the 10A2 teacher may: the 10A1 one may not, and vice versa
    khac = bearer_for(cls["users"]["other_teacher"])
    a1 = {**body, "class_id": cls["a1"].id}
    assert hoa.post("/api/signature/attendance/period", headers=khac, json=a1).status_code == 403
    assert _doc_count(db) == 0
    # school admin: previews own school's classes, creates nothing (the teacher signs); other school: 403
    admin = bearer_for(cls["users"]["admin"])
    prev = hoa.get("/api/signature/attendance/period", headers=admin, params=a1)
    assert prev.status_code == 200 and len(prev.json()["rows"]) == 3
    assert hoa.post("/api/signature/attendance/period", headers=admin, json=a1).status_code == 403
    far = bearer_for(cls["users"]["admin_other"])
    assert hoa.get("/api/signature/attendance/period", headers=far, params=a1).status_code == 403
    assert _doc_count(db) == 0
    ok = hoa.post("/api/signature/attendance/period", headers=khac, json=body)
    assert ok.status_code == 201 and ok.json()["content"]["rows"][0][1] == "Phạm Thị Mỹ"
    # the teacher's page lists only own classes and previews a finalised period
    listing = hoa.get("/signature/attendance")
    assert listing.status_code == 200 and "10A1" in listing.text and "10A2" not in listing.text
    preview = hoa.get("/signature/attendance", params={**a1, "kind": "period"})
    assert preview.status_code == 200 and "Lập tài liệu để ký số" in preview.text and "Lâm Sóc Kha" in preview.text
    created = hoa.post("/signature/attendance", data={**a1, "kind": "period"}, follow_redirects=False)
    assert created.status_code == 303 and "/signature/documents/" in created.headers["location"]
    assert "Khớp với dữ liệu điểm danh" in hoa.get(created.headers["location"]).text


def test_a_month_is_over_only_after_its_last_day(db, cls):
    from central_server.signature.attendance_source import AttendanceSourceError, build_month

    with pytest.raises(AttendanceSourceError) as last_day:
        build_month(db, cls["a1"], "2026-11", today=dt.date(2026, 11, 30))
    assert last_day.value.code == "not_finalised" and "chưa kết thúc" in str(last_day.value)
    with pytest.raises(AttendanceSourceError) as next_day:  # over: now judged on its marks (there are none)
        build_month(db, cls["a1"], "2026-11", today=dt.date(2026, 12, 1))
    assert next_day.value.code == "no_marks"
