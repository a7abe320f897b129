"""PAdES signing (ETSI EN 319 142): B-B, B-T (RFC 3161 time-stamp), B-LT (chain + OCSP/CRL in the DSS),
B-LTA (plus a document time-stamp), as incremental updates.

Before a key is used the signer's certificate is checked the way Decree 68/2024 Art. 29-32 asks:
key usage allows signing, it is inside its validity period, its path to a trusted root builds and no
certificate on it is revoked (OCSP/CRL fetched live, hard-fail). The first signature of a document
certifies it with DocMDP level 2 (fill forms and sign), so every later signature of the workflow
(into the fields created at rendering) keeps the earlier ones valid; a document certified with level 1
(no changes) is refused before anything is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.validation.pdf_embedded import read_certification_data
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors

from .errors import SignatureFailure
from .pdf_render import find_font
from .signers import SignerSource

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
SIGNING_KEY_USAGES = {"digital_signature", "non_repudiation"}


@dataclass(frozen=True)
class SignOptions:
    field_name: str
    trust_roots: list[x509.Certificate]
    level: str = "B-T"
    tsa_url: str | None = None
    reason: str | None = None
    location: str | None = None
    signer_title: str = ""  # e.g. "Hiệu trưởng" — the title appears on the document (Decree 68/2024)
    online_revocation: bool = True  # fetch OCSP/CRL before signing (hard-fail)
    docmdp: MDPPerm = MDPPerm.FILL_FORMS
    extra_certs: list[x509.Certificate] = field(default_factory=list)
    # raises SignatureFailure unless the certificate belongs to the signing account (binding.py); None: no check
    accept_certificate: Callable[[asn1_x509.Certificate], None] | None = None


def asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        _ = reader.root
    except (PdfError, ValueError, KeyError, IndexError) as exc:
        raise SignatureFailure("Tệp tải lên không phải là tài liệu PDF hợp lệ.", "bad_pdf") from exc
    if reader.encrypted:
        raise SignatureFailure("Không ký được tài liệu PDF đã mã hoá.", "encrypted_pdf")
    return reader


def check_document(pdf: bytes, field_name: str) -> bool:
    """Refuse a signature that would break an earlier one; returns whether the document is certified."""
    reader = _reader(pdf)
    cert_info = read_certification_data(reader)
    if cert_info is not None and cert_info.permission == MDPPerm.NO_CHANGES:
        raise SignatureFailure("Tài liệu đã được chứng thực ở mức 'không cho phép thay đổi': thêm chữ ký sẽ "
                               "làm chữ ký trước mất hiệu lực, nên hệ thống không ký.", "docmdp_forbids")
    for sig in reader.embedded_signatures:
        if sig.field_name == field_name:
            raise SignatureFailure(f"Ô chữ ký '{field_name}' đã được ký.", "field_signed")
    return cert_info is not None or bool(reader.embedded_signatures)


def validation_context(opts: SignOptions, *, fetch: bool, moment: dt.datetime | None = None,
                       **kwargs) -> ValidationContext:
    return ValidationContext(trust_roots=[asn1_cert(c) for c in opts.trust_roots],
                             other_certs=[asn1_cert(c) for c in opts.extra_certs], allow_fetching=fetch,
                             revocation_mode="hard-fail" if fetch else "soft-fail", moment=moment, **kwargs)


async def check_signer_certificate(signer, opts: SignOptions) -> None:
    """Key usage, validity period, path to a trusted root and revocation of the signer's certificate."""
    cert = signer.signing_cert
    if cert is None:
        raise SignatureFailure("Không đọc được chứng thư số của người ký.", "no_certificate")
    usages = set(cert.key_usage_value.native) if cert.key_usage_value is not None else set()
    if not usages & SIGNING_KEY_USAGES:
        raise SignatureFailure("Chứng thư số này không được phép dùng để ký số (thiếu mục đích "
                               "digitalSignature/nonRepudiation).", "wrong_key_usage")
    now = dt.datetime.now(dt.UTC)
    validity = cert["tbs_certificate"]["validity"]
    if now > validity["not_after"].native:
        raise SignatureFailure(f"Chứng thư số đã hết hạn từ {validity['not_after'].native:%d/%m/%Y}.", "expired")
    if now < validity["not_before"].native:
        raise SignatureFailure("Chứng thư số chưa đến ngày có hiệu lực.", "not_yet_valid")
    vc = validation_context(opts, fetch=opts.online_revocation)
    validator = CertificateValidator(cert, intermediate_certs=list(signer.cert_registry), validation_context=vc)
    try:
        await validator.async_validate_path()
    except cv_errors.RevokedError as exc:
        raise SignatureFailure(f"Chứng thư số đã bị thu hồi từ {exc.revocation_dt:%d/%m/%Y %H:%M} (UTC); "
                               f"không được ký bằng chứng thư này.", "revoked") from exc
    except cv_errors.InsufficientRevinfoError as exc:
        raise SignatureFailure("Không kiểm tra được tình trạng thu hồi của chứng thư số (OCSP/CRL không "
                               "truy cập được); chưa ký.", "revocation_unknown") from exc
    except cv_errors.PathBuildingError as exc:
        raise SignatureFailure("Chứng thư số không do tổ chức chứng thực được tin cậy cấp.", "untrusted") from exc
    except cv_errors.PathValidationError as exc:
        raise SignatureFailure(f"Chứng thư số không hợp lệ: {exc}", "invalid_certificate") from exc
    except cv_errors.InvalidCertificateError as exc:  # e.g. a self-signed certificate that is not a trusted root
        raise SignatureFailure("Chứng thư số không hợp lệ hoặc tự ký, không do tổ chức chứng thực được tin cậy "
                               "cấp; không ký được.", "untrusted") from exc
    except cv_errors.ValidationError as exc:
        raise SignatureFailure(f"Chứng thư số không hợp lệ: {exc}", "invalid_certificate") from exc
    finally:
        await vc.aclose()
    if opts.accept_certificate is not None:
        opts.accept_certificate(cert)


def _stamp_style() -> TextStampStyle:
    return TextStampStyle(
        stamp_text="Ký bởi: %(signer)s\n%(title)s\nNgày ký: %(ts)s",
        timestamp_format="%d/%m/%Y %H:%M:%S %z",
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(find_font("regular")), font_size=7)),
        border_width=1,
    )


async def _sign_opened(pdf: bytes, signer, opts: SignOptions, already_signed: bool) -> bytes:
    long_term = opts.level in ("B-LT", "B-LTA")
    meta = PdfSignatureMetadata(
        field_name=opts.field_name, reason=opts.reason, location=opts.location,
        md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
        certify=not already_signed, docmdp_permissions=opts.docmdp,
        embed_validation_info=long_term, use_pades_lta=opts.level == "B-LTA",
        validation_context=validation_context(opts, fetch=True) if long_term else None,
        signer_key_usage={"non_repudiation"},
        # B-LT in one revision (no VRI): the last signature still covers the whole file
        dss_settings=DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE,
                                        include_vri=False) if opts.level == "B-LT" else DSSContentSettings(),
    )
    stamper = HTTPTimeStamper(opts.tsa_url, timeout=20) if opts.level != "B-B" else None
    pdf_signer = PdfSigner(meta, signer, timestamper=stamper, stamp_style=_stamp_style())
    out = io.BytesIO()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    try:
        await pdf_signer.async_sign_pdf(writer, output=out, appearance_text_params={"title": opts.signer_title or ""})
    except SignatureFailure:
        raise
    except SigningError as exc:
        raise SignatureFailure(f"Ký số không thành công: {exc}", "signing_failed") from exc
    except (TimeoutError, OSError) as exc:
        raise SignatureFailure(f"Không kết nối được dịch vụ cấp dấu thời gian hoặc OCSP/CRL: {exc}",
                               "service_unreachable") from exc
    finally:
        if meta.validation_context is not None:
            await meta.validation_context.aclose()
    return out.getvalue()


def _check_options(opts: SignOptions) -> None:
    if opts.level not in LEVELS:
        raise SignatureFailure(f"Mức PAdES không hợp lệ: {opts.level} (một trong {', '.join(LEVELS)}).", "bad_level")
    if opts.level != "B-B" and not opts.tsa_url:
        raise SignatureFailure(f"Mức {opts.level} cần địa chỉ dịch vụ cấp dấu thời gian (TSA).", "no_tsa")


async def sign_pdf_async(pdf: bytes, source: SignerSource, opts: SignOptions) -> bytes:
    """Add one PAdES signature to ``pdf`` (into field ``opts.field_name``) and return the new PDF."""
    _check_options(opts)
    already_signed = check_document(pdf, opts.field_name)
    async with source.open() as signer:
        await check_signer_certificate(signer, opts)
        return await _sign_opened(pdf, signer, opts, already_signed)


async def sign_batch_async(pdfs: list[bytes], source: SignerSource, opts: SignOptions) -> list[bytes]:
    """Sign many documents with one key: the key is opened (PIN / password) and the certificate checked
    (OCSP/CRL) once for the batch, then each document gets its own signature and time-stamp."""
    _check_options(opts)
    flags = [check_document(pdf, opts.field_name) for pdf in pdfs]
    async with source.open() as signer:
        await check_signer_certificate(signer, opts)
        return [await _sign_opened(pdf, signer, opts, flag) for pdf, flag in zip(pdfs, flags, strict=True)]


def sign_batch(pdfs: list[bytes], source: SignerSource, opts: SignOptions) -> list[bytes]:
    return asyncio.run(sign_batch_async(pdfs, source, opts))


def sign_pdf(pdf: bytes, source: SignerSource, opts: SignOptions) -> bytes:
    """Synchronous wrapper (CLI, worker threads of sync FastAPI handlers)."""
    return asyncio.run(sign_pdf_async(pdf, source, opts))
