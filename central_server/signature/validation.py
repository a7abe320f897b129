"""Verify every signature of a PDF with pyHanko's validator and explain the result in Vietnamese.

Per signature: who signed (certificate subject), the chain to a trusted root and its revocation status
now (OCSP/CRL fetched live when ``online``), the time proven by the RFC 3161 time-stamp, whether the
bytes it covers are intact, which revision it covers and what was changed after it (pyHanko's
incremental-update difference analysis against DocMDP). When the PDF carries long-term validation data
(DSS) the chain is also validated at the time-stamp's time from that embedded data alone.

Verdicts: ``valid``; ``valid_revoked_later`` (the certificate was revoked after the time-stamp proves
the signature existed); ``invalid`` (tampered, changed beyond DocMDP, untrusted, revoked before
signing, wrong key usage); ``indeterminate`` (revocation status unreachable).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from dataclasses import asdict, dataclass, field

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from central_server.core.uploads import UploadRejected, off_loop

from .errors import SignatureFailure
from .pades import asn1_cert

KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)
PARSE_SECONDS = 30.0
OK_CHANGES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)


@dataclass
class SignatureReport:
    field_name: str
    signer: str
    signer_subject: str
    issuer: str
    serial: str
    signed_revision: int  # 0-based revision of the file this signature covers
    certification: bool  # the document's certifying (DocMDP) signature
    intact: bool  # covered bytes unchanged and the CMS signature verifies
    trusted: bool  # chain to a trusted root, valid now (or at signing time for a revoked-later cert)
    key_usage_ok: bool
    revoked: bool
    revocation_date: dt.datetime | None
    timestamp: dt.datetime | None  # time proven by the RFC 3161 signature time-stamp
    claimed_time: dt.datetime | None  # the signer's own clock (not proof)
    coverage: str  # ENTIRE_FILE | ENTIRE_REVISION | ...
    changes_after: str  # NONE | LTA_UPDATES | FORM_FILLING | ANNOTATIONS | OTHER
    long_term: bool  # DSS with validation data present
    long_term_valid: bool | None  # chain valid at the time-stamp from the embedded data only
    pades_level: str
    verdict: str
    message: str
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class VerificationReport:
    revisions: int
    signatures: list[SignatureReport]
    verdict: str
    message: str

    def as_dict(self) -> dict:
        return {"revisions": self.revisions, "verdict": self.verdict, "message": self.message,
                "signatures": [s.as_dict() for s in self.signatures]}


def _name(name) -> str:
    try:
        return name.human_friendly
    except (AttributeError, ValueError):
        return str(name)


def _cn(cert) -> str:
    attrs = cert.subject.native
    return attrs.get("common_name") or _name(cert.subject)


def _dss_covers(dss: DocumentSecurityStore, cert) -> bool:
    """Whether the DSS holds revocation data about ``cert`` (an OCSP answer for it or its issuer's CRL)."""
    for ref in dss.ocsps:
        resp = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
        basic = resp.basic_ocsp_response
        if basic is None:
            continue
        if any(r["cert_id"]["serial_number"].native == cert.serial_number
               for r in basic["tbs_response_data"]["responses"]):
            return True
    for ref in dss.crls:
        if asn1_crl.CertificateList.load(ref.get_object().data).issuer == cert.issuer:
            return True
    return False


async def _long_term_check(reader, sig, roots, ts_time) -> bool | None:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return None
    if not _dss_covers(dss, sig.signer_cert):
        return None
    vc = dss.as_validation_context({"trust_roots": roots, "allow_fetching": False, "moment": ts_time,
                                    "revocation_mode": "hard-fail", "retroactive_revinfo": True})
    try:
        status = await async_validate_pdf_signature(sig, vc, key_usage_settings=KEY_USAGE, skip_diff=True)
    finally:
        await vc.aclose()
    return bool(status.bottom_line and status.trusted)


async def _one(reader, sig, roots, online: bool) -> SignatureReport:
    vc = ValidationContext(trust_roots=roots, allow_fetching=online,
                           revocation_mode="hard-fail" if online else "soft-fail")
    try:
        status = await async_validate_pdf_signature(sig, vc, key_usage_settings=KEY_USAGE)
    finally:
        await vc.aclose()
    cert = status.signing_cert
    ts = status.timestamp_validity.timestamp if status.timestamp_validity else None
    ts_ok = bool(status.timestamp_validity and status.timestamp_validity.intact
                 and status.timestamp_validity.valid and status.timestamp_validity.trusted)
    revoked_at = status.revocation_details.revocation_date if status.revocation_details else None
    lt_valid = await _long_term_check(reader, sig, roots, ts) if ts is not None else None
    changes = status.modification_level or ModificationLevel.OTHER
    coverage = status.coverage or SignatureCoverageLevel.UNCLEAR
    problems: list[str] = []
    intact = bool(status.intact and status.valid)
    if not intact:
        problems.append("Nội dung đã bị sửa sau khi ký hoặc chữ ký bị hỏng (giá trị băm không khớp).")
    if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        problems.append("Chữ ký không bao phủ toàn bộ phiên bản tài liệu.")
    if changes not in OK_CHANGES or status.docmdp_ok is False:
        problems.append("Tài liệu đã bị thay đổi sau khi ký theo cách không được phép.")
    key_usage_ok = not (status.trust_problem_indic is not None and "usage" in str(status.trust_problem_indic).lower())
    revoked_later = status.revoked and ts is not None and ts_ok and revoked_at is not None and revoked_at > ts
    if status.revoked and not revoked_later:
        problems.append(f"Chứng thư số đã bị thu hồi{f' từ {revoked_at:%d/%m/%Y %H:%M} UTC' if revoked_at else ''}"
                        f"{' trước thời điểm ký' if ts else ''}.")
    trusted = bool(status.trusted) or bool(revoked_later and lt_valid is not False)
    if not status.trusted and not status.revoked:
        problems.append("Chứng thư số không được xác thực tới tổ chức chứng thực tin cậy "
                        f"({status.trust_problem_indic.name if status.trust_problem_indic else 'không rõ'}).")
    if ts is not None and not ts_ok:
        problems.append("Dấu thời gian không hợp lệ hoặc không tin cậy.")
    if lt_valid is False:
        problems.append("Dữ liệu kiểm tra dài hạn (LTV) nhúng trong tài liệu không xác nhận được chứng thư số.")
    if problems:
        indeterminate = (intact and not status.revoked and status.trust_problem_indic is not None
                         and "REVOCATION" in status.trust_problem_indic.name.upper())
        verdict = "indeterminate" if indeterminate and len(problems) == 1 else "invalid"
        message = " ".join(problems)
    elif revoked_later:
        verdict = "valid_revoked_later"
        message = (f"Chữ ký hợp lệ tại thời điểm ký ({ts:%d/%m/%Y %H:%M} UTC, có dấu thời gian); chứng thư số "
                   f"bị thu hồi sau đó ({revoked_at:%d/%m/%Y %H:%M} UTC).")
    else:
        verdict = "valid"
        message = "Chữ ký hợp lệ; tài liệu không bị thay đổi sau khi ký (ngoài các chữ ký được phép sau đó)."
    level = "B-B"
    if ts is not None:
        level = "B-LT" if lt_valid is not None else "B-T"
    return SignatureReport(
        field_name=sig.field_name, signer=_cn(cert), signer_subject=_name(cert.subject),
        issuer=_name(cert.issuer), serial=format(cert.serial_number, "x"), signed_revision=sig.signed_revision,
        certification=sig.sig_object.get("/Reference") is not None and sig.docmdp_level is not None,
        intact=intact, trusted=trusted, key_usage_ok=key_usage_ok, revoked=bool(status.revoked),
        revocation_date=revoked_at, timestamp=ts, claimed_time=status.signer_reported_dt,
        coverage=coverage.name, changes_after=changes.name, long_term=lt_valid is not None,
        long_term_valid=lt_valid, pades_level=level, verdict=verdict, message=message, problems=problems)


def _open(pdf: bytes):
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return reader, reader.embedded_signatures, reader.xrefs.total_revisions


async def verify_pdf_async(pdf: bytes, trust_roots, online: bool = True) -> VerificationReport:
    try:  # parsing an uploaded PDF is CPU work: off the event loop (core/uploads.py)
        reader, sigs, revisions = await off_loop(_open, pdf, seconds=PARSE_SECONDS)
    except UploadRejected:
        raise
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        raise SignatureFailure("Tệp không phải là tài liệu PDF hợp lệ.", "bad_pdf") from exc
    if not sigs:
        return VerificationReport(revisions, [], "unsigned", "Tài liệu không có chữ ký số nào.")
    roots = [asn1_cert(c) for c in trust_roots]
    reports = []
    for sig in sigs:
        try:
            reports.append(await _one(reader, sig, roots, online))
        except (SignatureValidationError, PdfError, ValueError) as exc:
            reports.append(_broken(sig, exc))
    order = ["invalid", "indeterminate", "valid_revoked_later", "valid"]
    verdict = min((r.verdict for r in reports), key=order.index)
    message = {
        "valid": f"Tất cả {len(reports)} chữ ký số hợp lệ; tài liệu không bị thay đổi sau khi ký.",
        "valid_revoked_later": "Các chữ ký hợp lệ tại thời điểm ký; có chứng thư số đã bị thu hồi sau đó.",
        "indeterminate": "Chưa xác định được: không kiểm tra được tình trạng thu hồi chứng thư số.",
        "invalid": "KHÔNG HỢP LỆ: có chữ ký không hợp lệ hoặc tài liệu đã bị thay đổi sau khi ký.",
    }[verdict]
    return VerificationReport(revisions, reports, verdict, message)


def _broken(sig, exc) -> SignatureReport:
    return SignatureReport(
        field_name=getattr(sig, "field_name", "?"), signer="?", signer_subject="?", issuer="?", serial="?",
        signed_revision=-1, certification=False, intact=False, trusted=False, key_usage_ok=False, revoked=False,
        revocation_date=None, timestamp=None, claimed_time=None, coverage="UNCLEAR", changes_after="OTHER",
        long_term=False, long_term_valid=None, pades_level="?", verdict="invalid",
        message=f"Chữ ký bị hỏng, không đọc được: {exc}", problems=[str(exc)])


def verify_pdf(pdf: bytes, trust_roots, online: bool = True) -> VerificationReport:
    return asyncio.run(verify_pdf_async(pdf, trust_roots, online))
