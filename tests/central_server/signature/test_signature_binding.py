"""Who may sign with which certificate (issue 15 item 4), through the real app on SQLite and PostgreSQL:
a teacher signing with another person's certificate is refused (403, nothing changes, audited with the
certificate offered); the certificate that signed is in the audit; a self-signed .p12 is a clear 4xx (API) and a
clear message (CLI); the CLI uses the pilot TSA when none is configured; a 12,000-character cell is a 422 and the
renderer wraps/clips long words."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from conftest import P12_PASSWORD, serve  # noqa: I001  (the suite's conftest: pilot PKI)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from sqlalchemy import select
from test_signature_pades import sample_doc
from test_signature_workflow import RECORD, p12_form
from typer.testing import CliRunner

from central_server.core.tables import AuditLog
from central_server.masterdata.service import create_school
from central_server.masterdata.tables import SchoolClass, Teacher
from central_server.signature.cli import app as cli_app
from central_server.signature.config import SignatureSettings
from central_server.signature.pdf_render import render_pdf
from central_server.signature.routes_pki import make_pki_router
from central_server.signature.tsa import LocalTSA
from central_server.signature.validation import verify_pdf

ATTENDANCE = {**RECORD, "kind": "attendance", "title": "ĐIỂM DANH TIẾT 3 — 10A1 — 15/09/2025",
              "columns": ["STT", "Họ và tên", "Trạng thái"], "rows": [["1", "Trần Thị Ánh Tuyết", "Có mặt"]]}


@pytest.fixture()
def sig_app(app, pki, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
    app.state.signature_settings = SignatureSettings(
        _env_file=None, public_base_url="https://giaoduc.example.vn", default_level="B-T", tsa_url=pki.tsa_url,
        trust_roots=[root])
    return app


@pytest.fixture()
def toan(make_user):
    return make_user("gv_toan", "teacher", school_id=7, full_name="Nguyễn Văn Toán")


def _locked_doc(client) -> str:
    doc_id = client.post("/api/signature/documents", json=ATTENDANCE).json()["id"]
    assert client.post(f"/api/signature/documents/{doc_id}/lock").json()["status"] == "locked"
    return doc_id


def _sign_audits(db, outcome: str) -> list[AuditLog]:
    return db.scalars(select(AuditLog).where(AuditLog.action == "signature.sign", AuditLog.outcome == outcome)
                      .order_by(AuditLog.id)).all()


def test_teacher_cannot_sign_with_another_persons_certificate(sig_app, db, toan, client_for, pki):
    c = client_for(toan)
    doc_id = _locked_doc(c)
    r = c.post(f"/api/signature/documents/{doc_id}/sign", **p12_form(pki, pki.teacher, "GiaoVien"))
    assert r.status_code == 403, r.text
    assert "Nguyễn Thị Hoa" in r.json()["detail"] and "chính mình" in r.json()["detail"]
    assert c.get(f"/api/signature/documents/{doc_id}").json()["status"] == "locked"  # not completed
    refused = _sign_audits(db, "refused")[-1].detail
    spki = hashlib.sha256(pki.teacher.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    assert refused["code"] == "certificate_not_yours"
    assert refused["certificate"]["serial"] == format(pki.teacher.cert.serial_number, "x")
    assert refused["certificate"]["spki_sha256"] == spki and "Nguyễn Thị Hoa" in refused["certificate"]["subject"]


def test_own_certificate_signs_and_the_audit_names_it(sig_app, db, toan, client_for, pki):
    c = client_for(toan)
    doc_id = _locked_doc(c)
    own = pki.new_teacher("Nguyễn  văn TOÁN")  # same person: case and spacing do not matter
    r = c.post(f"/api/signature/documents/{doc_id}/sign", **p12_form(pki, own, "GiaoVien"))
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    signed = _sign_audits(db, "ok")[-1].detail
    assert signed["certificate"]["serial"] == format(own.cert.serial_number, "x")
    assert len(signed["certificate"]["spki_sha256"]) == 64 and "Toán".casefold() in signed["certificate"][
        "subject"].casefold()


def test_school_field_needs_the_schools_certificate(sig_app, db, make_user, client_for, bearer_for, pki):
    school = create_school(db, "94000799", "THPT Mỹ Xuyên")
    teacher = make_user("gv_tam", "teacher", school_id=school.id, full_name="Lê Minh Tâm")
    homeroom = make_user("gvcn_hoa", "teacher", school_id=school.id, full_name="Nguyễn Thị Hoa")
    principal = make_user("ht_binh", "school_admin", school_id=school.id, full_name="Trần Văn Bình")
    staff = Teacher(school_id=school.id, staff_code="GV-HOA", full_name=homeroom.full_name, user_id=homeroom.id)
    db.add(staff)
    db.flush()
    klass = SchoolClass(school_id=school.id, school_year="2025-2026", code="10A1", grade=10,
                        homeroom_teacher_id=staff.id)
    db.add(klass)
    db.commit()  # the record names its class; only that class's homeroom teacher verifies it
    c = client_for(teacher)
    p = bearer_for(principal)
    doc_id = c.post("/api/signature/documents", json={**RECORD, "class_id": klass.id,
                                                      "school_name": "Trường THPT Mỹ Xuyên"}).json()["id"]
    c.post(f"/api/signature/documents/{doc_id}/lock")
    assert c.post(f"/api/signature/documents/{doc_id}/verify-record", headers=bearer_for(homeroom)).status_code == 200
    ok = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p, **p12_form(pki, pki.principal, "HieuTruong"))
    assert ok.status_code == 200, ok.text
    r = c.post(f"/api/signature/documents/{doc_id}/sign", headers=p, **p12_form(pki, pki.school, "NhaTruong"))
    assert r.status_code == 403 and "Trường THPT Mỹ Xuyên" in r.json()["detail"]
    assert c.get(f"/api/signature/documents/{doc_id}", headers=p).json()["status"] == "principal_signed"


def _self_signed_p12(name: str) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(b"x", key, cert, None,
                                                 serialization.BestAvailableEncryption(P12_PASSWORD.encode()))


def test_self_signed_p12_is_a_clear_error_in_api_and_cli(sig_app, db, toan, client_for, pki, tmp_path):
    c = client_for(toan)
    doc_id = _locked_doc(c)
    p12 = _self_signed_p12("Nguyễn Văn Toán")
    r = c.post(f"/api/signature/documents/{doc_id}/sign",
               data={"field": "GiaoVien", "method": "pkcs12", "password": P12_PASSWORD},
               files={"p12": ("tu-ky.p12", p12, "application/x-pkcs12")})
    assert r.status_code == 422, r.text
    assert "tự ký" in r.json()["detail"]
    assert c.get(f"/api/signature/documents/{doc_id}").json()["status"] == "locked"
    root = tmp_path / "root.pem"
    root.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
    blank, out, p12_file = tmp_path / "blank.pdf", tmp_path / "out.pdf", tmp_path / "tu-ky.p12"
    blank.write_bytes(render_pdf(sample_doc()))
    p12_file.write_bytes(p12)
    res = CliRunner().invoke(cli_app, ["sign", str(blank), "--out", str(out), "--p12", str(p12_file),
                                       "--password-env", "P12_PASS", "--tsa", pki.tsa_url, "--trust-root", str(root)],
                             env={"P12_PASS": P12_PASSWORD})
    assert res.exit_code == 2 and "tự ký" in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not out.exists()


def test_cli_sign_without_tsa_uses_the_pilot_tsa(pki, tmp_path):
    """`--tsa` omitted and CENTRAL_SIGNATURE_TSA_URL empty: the time-stamp comes from <public_base_url>/signature/
    pki/tsa, as the settings say."""
    tsa_cert = pki.ca.issue("root", "tsa", "TSA thí điểm (CLI)", org="Sở GD&ĐT")
    server_app = FastAPI()
    tsa = LocalTSA(tsa_cert.cert, tsa_cert.key, tsa_cert.chain)
    server_app.include_router(make_pki_router(lambda _r: pki.ca, lambda _r: tsa), prefix="/signature/pki")
    url, server = serve(server_app)
    try:
        root = tmp_path / "root.pem"
        root.write_bytes(pki.ca.root().public_bytes(serialization.Encoding.PEM))
        blank, out, p12 = tmp_path / "blank.pdf", tmp_path / "out.pdf", tmp_path / "gv.p12"
        blank.write_bytes(render_pdf(sample_doc()))
        p12.write_bytes(pki.teacher.pkcs12(P12_PASSWORD))
        res = CliRunner().invoke(cli_app, ["sign", str(blank), "--out", str(out), "--p12", str(p12),
                                           "--password-env", "P12_PASS", "--trust-root", str(root)],
                                 env={"P12_PASS": P12_PASSWORD, "CENTRAL_SIGNATURE_TSA_URL": "",
                                      "CENTRAL_SIGNATURE_PUBLIC_BASE_URL": url})
        assert res.exit_code == 0, res.output
        report = verify_pdf(out.read_bytes(), pki.roots, online=False)
        assert report.signatures[0].timestamp is not None and report.signatures[0].pades_level == "B-T"
    finally:
        server.should_exit = True


def test_long_cell_is_422_and_renderer_wraps_long_words(sig_app, toan, client_for, tmp_path):
    c = client_for(toan)
    r = c.post("/api/signature/documents", json={**ATTENDANCE, "rows": [["1", "x" * 12_000, "Có mặt"]]})
    assert r.status_code == 422 and r.json()["detail"] == "Dữ liệu không hợp lệ."
    assert r.json()["errors"][0]["loc"][:2] == ["body", "rows"]
    # what reaches the renderer anyway (another source, an old row) is clipped and wrapped, never a 500
    doc = sample_doc()
    word = "Nguyễn" * 2_000  # one 12,000-character word
    pdf = render_pdf(type(doc)(**{**doc.__dict__, "rows": [[word if i == 1 else v for i, v in enumerate(row)]
                                                           for row in doc.rows]}))
    assert pdf.startswith(b"%PDF")
    html = c.post("/api/signature/documents", json={**ATTENDANCE, "rows": [["1", "<b>Trần</b> & <i", "Có mặt"]]})
    assert html.status_code == 201, html.text  # markup in a cell is text, not ReportLab markup
