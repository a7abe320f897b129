"""Which certificate may sign which field for which account (issue 15: a teacher signed as somebody else).

The rule (stated in central_server/README.md, "Signatures: who may sign with which certificate"):
- a personal field (`GiaoVien`, `HieuTruong`) is signed only with a certificate issued to the signing account's
  person: the certificate's subject common name must equal the account's full name (compared after Unicode NFC,
  case folding and collapsing spaces; Decree 68/2024 issues personal certificates in the holder's name);
- the organisation field (`NhaTruong`) only with a certificate of the document's school: its subject
  organisation (or common name) must equal the document's school name.
A mismatch is refused before the key signs anything (`SignatureFailure`, code `certificate_not_yours`, HTTP 403),
and the refusal is audited with the certificate that was offered. `describe(cert)` is what the audit records of
the certificate that signed: serial, subject, issuer and the SHA-256 fingerprint of its public key (SPKI).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

from asn1crypto import x509 as asn1_x509

from .errors import SignatureFailure

PERSONAL_FIELDS = ("GiaoVien", "HieuTruong")
ORGANISATION_FIELDS = ("NhaTruong",)


def norm_name(value: str | None) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", value or "")).strip().casefold()


def describe(cert: asn1_x509.Certificate) -> dict[str, str]:
    return {"serial": format(cert.serial_number, "x"), "subject": cert.subject.human_friendly[:400],
            "issuer": cert.issuer.human_friendly[:400],
            "spki_sha256": hashlib.sha256(cert.public_key.dump()).hexdigest()}


def _subject(cert: asn1_x509.Certificate, key: str) -> str:
    value = cert.subject.native.get(key)
    return value[-1] if isinstance(value, list) else (value or "")


def check_holder(field: str, full_name: str, school_name: str) -> Callable[[asn1_x509.Certificate], None]:
    """A check for `SignOptions.accept_certificate`: raise unless `cert` belongs to this account / school."""

    def accept(cert: asn1_x509.Certificate) -> None:
        cn = _subject(cert, "common_name")
        if field in ORGANISATION_FIELDS:
            school = norm_name(school_name)
            if school and school in (norm_name(_subject(cert, "organization_name")), norm_name(cn)):
                return
            raise SignatureFailure(f"Chứng thư số này cấp cho '{cn}', không phải chứng thư của '{school_name}'; "
                                   "ô chữ ký của nhà trường phải ký bằng chứng thư số của trường.",
                                   "certificate_not_yours")
        if not norm_name(full_name):
            raise SignatureFailure("Tài khoản chưa có họ tên; quản trị cần cập nhật họ tên trước khi ký số.",
                                   "certificate_not_yours")
        if norm_name(cn) != norm_name(full_name):
            raise SignatureFailure(f"Chứng thư số này cấp cho '{cn}', không phải cho '{full_name}' (tài khoản "
                                   "đang đăng nhập); mỗi người chỉ được ký bằng chứng thư số của chính mình.",
                                   "certificate_not_yours")

    return accept
