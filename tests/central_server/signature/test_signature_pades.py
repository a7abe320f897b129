"""Rendering, signing with each signer, counter-signing, and verification by pyHanko AND poppler's pdfsig,
against the real pilot PKI (CA, OCSP, CRL, RFC 3161 TSA over HTTP), a SoftHSM2 token and a CSC service."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields

from central_server.signature.errors import SignatureFailure
from central_server.signature.internal_ca import InternalCA
from central_server.signature.pades import SignOptions, sign_pdf
from central_server.signature.pdf_render import SignableDocument, SignatureSlot, render_pdf
from central_server.signature.signers import Pkcs11Source, Pkcs12Source, RemoteSource
from central_server.signature.validation import verify_pdf

VERIFY_URL = "https://giaoduc.example.vn/signature/d/0193a5b2-7c1e-7d2a-9f00-5e1b2c3d4e5f"


def sample_doc(**kw) -> SignableDocument:
    values = dict(
        doc_id="0193a5b2-7c1e-7d2a-9f00-5e1b2c3d4e5f", version=1, title="BẢNG TỔNG HỢP ĐIỂM DANH THÁNG 9/2025",
        authority="SỞ GIÁO DỤC VÀ ĐÀO TẠO THÀNH PHỐ CẦN THƠ", school_name="Trường THPT Hoàng Diệu",
        place_date="Sóc Trăng, ngày 30 tháng 9 năm 2025",
        info_lines=["Lớp: 10A1 — Giáo viên chủ nhiệm: Nguyễn Thị Hoa", "Số buổi học trong tháng: 22"],
        columns=["STT", "Mã HS", "Họ và tên", "Có mặt", "Vắng có phép (P)", "Vắng không phép (K)"],
        rows=[["1", "HS001", "Trần Thị Ánh Tuyết", "21", "1", "0"], ["2", "HS002", "Lâm Sóc Kha", "20", "0", "2"],
              ["3", "HS003", "Thạch Thị Sa Rên", "22", "0", "0"]],
        verify_url=VERIFY_URL, col_widths=[0.6, 1, 3, 1, 1.3, 1.3],
        slots=[SignatureSlot("GiaoVien", "Giáo viên chủ nhiệm", "Nguyễn Thị Hoa"),
               SignatureSlot("HieuTruong", "Hiệu trưởng", "Trần Văn Bình"), SignatureSlot("NhaTruong", "Nhà trường")])
    values.update(kw)
    return SignableDocument(**values)


@pytest.fixture(scope="module")
def blank() -> bytes:
    return render_pdf(sample_doc())


def opts(pki, field: str, level: str = "B-T", **kw) -> SignOptions:
    return SignOptions(field, pki.roots, level, pki.tsa_url, reason="Xác nhận số liệu", location="Sóc Trăng", **kw)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def pdfsig_blocks(output: str) -> list[str]:
    return output.split("Signature #")[1:]


# ---- rendering -----------------------------------------------------------------------------------------
def test_render_has_vietnamese_text_embedded_fonts_qr_and_empty_fields(blank, tmp_path):
    path = write(tmp_path, "blank.pdf", blank)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for phrase in ("SỞ GIÁO DỤC VÀ ĐÀO TẠO", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                   "Thạch Thị Sa Rên", "Trần Thị Ánh Tuyết", "Vắng không", "0193a5b2-7c1e-7d2a-9f00-5e1b2c3d4e5f"):
        assert phrase in text, phrase
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    font_rows = fonts.splitlines()[2:]
    assert font_rows and all(" yes " in row for row in font_rows), fonts  # every font embedded
    names = [f[0] for f in enumerate_sig_fields(PdfFileReader(io.BytesIO(blank)))]
    assert names == ["GiaoVien", "HieuTruong", "NhaTruong"]
    # the QR code decodes to the verification URL (rasterised by poppler, read by OpenCV)
    cv2 = pytest.importorskip("cv2")
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    value, _pts, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(tmp_path / "page.png")))
    assert value == VERIFY_URL


def test_render_rejects_ragged_table():
    with pytest.raises(Exception, match="số cột"):
        render_pdf(sample_doc(rows=[["1", "HS001"]]))


# ---- one signature through each signer --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pkcs12", "pkcs11", "remote"])
def test_sign_and_verify_each_signer(kind, pki, softhsm, remote, blank, pdfsig, tmp_path):
    source = {"pkcs12": pki.p12(pki.teacher), "pkcs11": softhsm, "remote": remote}[kind]
    signed = sign_pdf(blank, source, opts(pki, "GiaoVien", "B-T", signer_title="Giáo viên"))
    report = verify_pdf(signed, pki.roots)
    assert report.verdict == "valid", report.as_dict()
    (sig,) = report.signatures
    assert sig.pades_level == "B-T" and sig.timestamp is not None and sig.certification
    assert sig.coverage == "ENTIRE_FILE" and sig.changes_after == "NONE"
    out = pdfsig(write(tmp_path, f"{kind}.pdf", signed), ocsp=True)  # live OCSP to the pilot responder
    assert "Signature is Valid." in out and "Total document signed" in out and "Certificate is Trusted." in out, out


def test_three_signatures_counter_signed_b_lt_keep_each_other_valid(pki, softhsm, remote, blank, pdfsig, tmp_path):
    doc = sign_pdf(blank, pki.p12(pki.teacher), opts(pki, "GiaoVien", "B-T"))
    doc = sign_pdf(doc, softhsm, opts(pki, "HieuTruong", "B-LT", signer_title="Hiệu trưởng"))
    doc = sign_pdf(doc, remote, opts(pki, "NhaTruong", "B-LT"))
    report = verify_pdf(doc, pki.roots)
    assert report.verdict == "valid", report.as_dict()
    first, second, third = report.signatures
    assert first.certification and not second.certification and not third.certification
    assert [s.pades_level for s in report.signatures] == ["B-T", "B-LT", "B-LT"]
    assert second.long_term_valid and third.long_term_valid
    assert first.changes_after == "FORM_FILLING" and third.changes_after == "NONE"
    assert first.signed_revision < second.signed_revision < third.signed_revision
    # offline, from the embedded DSS alone, the B-LT signatures still validate at their time-stamp
    assert verify_pdf(doc, pki.roots, online=False).signatures[2].long_term_valid
    blocks = pdfsig_blocks(pdfsig(write(tmp_path, "three.pdf", doc)))
    assert len(blocks) == 3
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks), blocks
    assert "Total document signed" in blocks[-1]


# ---- what must fail ----------------------------------------------------------------------------------------
def test_tampered_pdf_fails_in_pyhanko_and_pdfsig(pki, blank, pdfsig, tmp_path):
    signed = sign_pdf(blank, pki.p12(pki.teacher), opts(pki, "GiaoVien"))
    tampered = bytearray(signed)
    at = tampered.find(b"Tr\xe1\xba\xa7n") if b"Tr\xe1\xba\xa7n" in tampered else tampered.find(b"BT", 2000)
    tampered[at + 30] ^= 0x01  # one bit inside the signed byte range
    report = verify_pdf(bytes(tampered), pki.roots)
    assert report.verdict == "invalid" and not report.signatures[0].intact
    assert "KHÔNG HỢP LỆ" in report.message
    out = pdfsig(write(tmp_path, "tampered.pdf", bytes(tampered)))
    assert "Signature is Valid." not in out and ("Digest Mismatch" in out or "Invalid" in out), out


def test_pdf_changed_after_signing_is_reported(pki, blank, tmp_path):
    signed = sign_pdf(blank, pki.p12(pki.teacher), opts(pki, "GiaoVien"))
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    from pyhanko.pdf_utils import generic
    extra = w.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 100 Td (0 vang) Tj ET"))
    contents = page["/Contents"]
    page["/Contents"] = generic.ArrayObject([*(contents if isinstance(contents, list) else [contents]), extra])
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    report = verify_pdf(out.getvalue(), pki.roots)
    assert report.verdict == "invalid"
    assert report.signatures[0].intact and report.signatures[0].changes_after == "OTHER"


def test_second_signature_that_would_break_the_first_is_refused(pki, blank):
    locked = sign_pdf(blank, pki.p12(pki.teacher), opts(pki, "GiaoVien", docmdp=MDPPerm.NO_CHANGES))
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(locked, pki.p12(pki.principal), opts(pki, "HieuTruong"))
    assert err.value.code == "docmdp_forbids" and "không cho phép thay đổi" in str(err.value)
    with pytest.raises(SignatureFailure) as again:  # the same field twice
        sign_pdf(sign_pdf(blank, pki.p12(pki.teacher), opts(pki, "GiaoVien")), pki.p12(pki.teacher),
                 opts(pki, "GiaoVien"))
    assert again.value.code == "field_signed"
    assert verify_pdf(locked, pki.roots).verdict == "valid"


def test_revoked_certificate_refuses_to_sign_and_earlier_signatures_are_marked(pki, blank):
    teacher = pki.new_teacher("Đỗ Thị Thu Hà")
    with_ts = sign_pdf(blank, pki.p12(teacher), opts(pki, "GiaoVien", "B-LT"))
    without_ts = sign_pdf(blank, pki.p12(teacher), opts(pki, "GiaoVien", "B-B"))
    stamped = verify_pdf(with_ts, pki.roots)
    assert stamped.verdict == "valid"
    # Revocations carry whole seconds (CRL/OCSP), dated from the start of the second they happened in; let
    # the clock leave the time-stamp's second so the revocation is provably later than the signature.
    ts = stamped.signatures[0].timestamp
    while dt.datetime.now(dt.UTC).replace(microsecond=0) <= ts:
        time.sleep(0.05)
    pki.ca.revoke(teacher.cert.serial_number, "key_compromise")
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(blank, pki.p12(teacher), opts(pki, "GiaoVien"))
    assert err.value.code == "revoked" and "thu hồi" in str(err.value)
    later = verify_pdf(with_ts, pki.roots).signatures[0]
    assert later.revoked and later.verdict == "valid_revoked_later" and later.long_term_valid
    assert later.revocation_date > later.timestamp
    untimed = verify_pdf(without_ts, pki.roots)
    assert untimed.verdict == "invalid" and untimed.signatures[0].revoked
    assert "thu hồi" in untimed.signatures[0].message


def test_signature_stamped_in_the_second_of_the_revocation_is_not_proven_earlier(pki, blank):
    teacher = pki.new_teacher("Lâm Văn Tài")
    signed = sign_pdf(blank, pki.p12(teacher), opts(pki, "GiaoVien", "B-LT"))
    ts = verify_pdf(signed, pki.roots).signatures[0].timestamp
    pki.ca.revoke(teacher.cert.serial_number, "key_compromise", when=ts.replace(microsecond=0))
    report = verify_pdf(signed, pki.roots)
    assert report.verdict == "invalid" and report.signatures[0].revoked
    assert "trước thời điểm ký" in report.signatures[0].message


def test_revoked_certificate_in_crl(pki):
    from cryptography import x509

    from central_server.signature.revocation import build_crl

    teacher = pki.new_teacher("Huỳnh Văn Nghệ")
    pki.ca.revoke(teacher.cert.serial_number, "affiliation_changed")
    crl = x509.load_der_x509_crl(build_crl(pki.ca, pki.school_ca))
    entry = crl.get_revoked_certificate_by_serial_number(teacher.cert.serial_number)
    assert entry is not None and crl.is_signature_valid(pki.ca.cert(pki.school_ca).public_key())


def test_expired_certificate_refuses_to_sign(pki, blank):
    old = pki.new_teacher("Lý Thường Kiệt", days=1, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(blank, pki.p12(old), opts(pki, "GiaoVien"))
    assert err.value.code == "expired" and "hết hạn" in str(err.value)


def test_wrong_key_usage_refuses_to_sign(pki, blank):
    enc = pki.ca.issue(pki.school_ca, "encryption_only", "Nguyễn Văn Mã Hoá", org="Trường THPT Hoàng Diệu")
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(blank, Pkcs12Source(enc.pkcs12("x-pass"), "x-pass"), opts(pki, "GiaoVien"))
    assert err.value.code == "wrong_key_usage"


def test_untrusted_root_is_reported(pki, blank, tmp_path):
    signed = sign_pdf(blank, pki.p12(pki.teacher), opts(pki, "GiaoVien"))
    other = InternalCA(tmp_path / "other", "other-pass", "http://127.0.0.1:9")
    report = verify_pdf(signed, [other.init_root("CA lạ")], online=False)
    assert report.verdict == "invalid" and not report.signatures[0].trusted


# ---- wrong secrets give clear errors ----------------------------------------------------------------------
def test_wrong_p12_password_and_corrupt_file(pki, blank):
    good = pki.teacher.pkcs12("dung-mat-khau")
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(blank, Pkcs12Source(good, "sai-mat-khau"), opts(pki, "GiaoVien"))
    assert err.value.code == "wrong_password" and "Sai mật khẩu" in str(err.value)
    with pytest.raises(SignatureFailure) as corrupt:
        sign_pdf(blank, Pkcs12Source(b"not a pfx at all", "x"), opts(pki, "GiaoVien"))
    assert corrupt.value.code == "p12_corrupt"


def test_wrong_token_pin_and_missing_key(pki, softhsm, blank):
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(blank, dataclasses.replace(softhsm, pin="000000"), opts(pki, "GiaoVien"))
    assert err.value.code == "wrong_pin" and "Sai mã PIN" in str(err.value)
    with pytest.raises(SignatureFailure) as missing:
        sign_pdf(blank, dataclasses.replace(softhsm, key_label="khong-co"), opts(pki, "GiaoVien"))
    assert missing.value.code == "key_not_found"
    with pytest.raises(SignatureFailure) as absent:
        sign_pdf(blank, Pkcs11Source("/nonexistent/libpkcs11.so", "1234", key_label="k"), opts(pki, "GiaoVien"))
    assert absent.value.code == "token_unavailable"
    # the right PIN still works afterwards (the failed attempts did not lock the token)
    assert verify_pdf(sign_pdf(blank, softhsm, opts(pki, "GiaoVien")), pki.roots).verdict == "valid"


def test_wrong_remote_pin_and_unknown_credential(pki, remote, blank):
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(blank, dataclasses.replace(remote, pin="999999"), opts(pki, "GiaoVien"))
    assert err.value.code == "wrong_pin"
    with pytest.raises(SignatureFailure) as unknown:
        sign_pdf(blank, RemoteSource(remote.service_url, "khong-ton-tai", "1"), opts(pki, "GiaoVien"))
    assert unknown.value.code == "remote_unavailable"


def test_not_a_pdf_is_refused(pki):
    with pytest.raises(SignatureFailure) as err:
        sign_pdf(b"%PDF-1.7 garbage", pki.p12(pki.teacher), opts(pki, "GiaoVien"))
    assert err.value.code == "bad_pdf"
    with pytest.raises(SignatureFailure):
        verify_pdf(b"hello", pki.roots)


def test_pdfsig_is_installed():
    assert shutil.which("pdfsig"), "poppler-utils (pdfsig) is required for the independent validation"
