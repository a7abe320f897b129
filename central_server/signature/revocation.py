"""CRL and OCSP responses (RFC 5280 / RFC 6960) for the internal CA.

Both are signed by the issuing CA itself (no delegated responder), so a validator needs nothing but the
chain to check them. Responses are built on request from the CA's current revocation list.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from .internal_ca import InternalCA

CRL_LIFETIME = dt.timedelta(hours=24)
OCSP_LIFETIME = dt.timedelta(hours=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def build_crl(ca: InternalCA, issuer_id: str) -> bytes:
    """The current DER CRL of CA ``issuer_id`` (raises CAError for an unknown CA)."""
    issuer, key = ca.cert(issuer_id), ca.key(issuer_id)
    now = _now()
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer.subject)
               .last_update(now - dt.timedelta(minutes=1))
               .next_update(now + CRL_LIFETIME)
               .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
                              critical=False))
    for serial, when, reason in ca.revoked_by(issuer_id):
        entry = (x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
                 .add_extension(x509.CRLReason(reason), critical=False).build())
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def ocsp_respond(ca: InternalCA, issuer_id: str, request_der: bytes) -> bytes:
    """Answer one DER OCSP request for a certificate issued by ``issuer_id`` (RFC 6960 semantics:
    a malformed request gets ``malformedRequest``, a foreign issuer ``unauthorized``)."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        return _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    issuer, key = ca.cert(issuer_id), ca.key(issuer_id)
    algo = request.hash_algorithm
    name_hash = hashes.Hash(algo)
    name_hash.update(issuer.subject.public_bytes())
    key_hash = hashes.Hash(algo)
    key_hash.update(issuer.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.PKCS1))
    if request.issuer_name_hash != name_hash.finalize() or request.issuer_key_hash != key_hash.finalize():
        return _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    cert = ca.issued_cert(request.serial_number)
    if cert is None:
        sub_cas = [c for c in (ca.cert(i) for i in ca.ca_ids()) if c.serial_number == request.serial_number]
        cert = sub_cas[0] if sub_cas else None
    if cert is None or cert.issuer != issuer.subject:
        return _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    now = _now()
    revoked = ca.revocation(request.serial_number)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer, algorithm=algo,
        cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
        this_update=now - dt.timedelta(minutes=1), next_update=now + OCSP_LIFETIME,
        revocation_time=revoked[0] if revoked else None,
        revocation_reason=revoked[1] if revoked else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
    for ext in request.extensions:
        if isinstance(ext.value, x509.OCSPNonce):
            builder = builder.add_extension(ext.value, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
