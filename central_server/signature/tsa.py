"""A local RFC 3161 time-stamping unit for the pilot and the tests.

It answers DER ``TimeStampReq`` bodies (``application/timestamp-query``) with ``TimeStampResp``
(``application/timestamp-reply``), signing the TSTInfo with a certificate whose only EKU is
timeStamping (critical). The token building is pyHanko's (``DummyTimeStamper``); this module adds
the request checks a real TSA makes (parsable request, accepted digest algorithm and length, version)
and its own policy OID. Production uses the VGCA / licensed-CA time-stamping service instead.
"""

from __future__ import annotations

import datetime as dt

from asn1crypto import core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

ACCEPTED_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}
# Pilot policy identifier; production TSAs publish their own. (Configurable per deployment.)
DEFAULT_POLICY_OID = "1.3.6.1.4.1.4146.2.2"


def to_asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def to_asn1_key(key: rsa.RSAPrivateKey) -> keys.PrivateKeyInfo:
    return keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class _PolicyTimeStamper(DummyTimeStamper):
    def __init__(self, *args, policy_oid: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_oid = policy_oid

    def _build_tst_info(self, message_imprint, dt_, req):
        info = super()._build_tst_info(message_imprint, dt_, req)
        info["policy"] = core.ObjectIdentifier(self.policy_oid)
        return info


def _rejection(failure: str, text: str) -> bytes:
    """TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL } without a token
    (asn1crypto's class insists on the token, so the outer SEQUENCE is written here)."""
    status = tsp.PKIStatusInfo({"status": tsp.PKIStatus("rejection"), "status_string": [text],
                                "fail_info": tsp.PKIFailureInfo({failure})}).dump()
    return core.Sequence.load(b"\x30" + _der_len(len(status)) + status).dump()


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


class LocalTSA:
    """Time-stamping unit over one TSA certificate (issued with the CA's ``tsa`` profile)."""

    def __init__(self, cert: x509.Certificate, key: rsa.RSAPrivateKey, chain: list[x509.Certificate],
                 policy_oid: str = DEFAULT_POLICY_OID):
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        if not eku.critical or list(eku.value) != [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]:
            raise ValueError("a TSA certificate needs exactly the timeStamping EKU, marked critical")
        store = SimpleCertificateStore()
        store.register_multiple([to_asn1_cert(c) for c in chain])
        self.cert = cert
        self._args = (to_asn1_cert(cert), to_asn1_key(key), store, policy_oid)

    def respond(self, request_der: bytes, now: dt.datetime | None = None) -> bytes:
        """DER TimeStampResp for a DER TimeStampReq; a bad request gets a 'rejection' status."""
        try:
            req = tsp.TimeStampReq.load(request_der)
            version = req["version"].native
            imprint = req["message_imprint"]
            algo = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "malformed TimeStampReq")
        if version != "v1":
            return _rejection("bad_request", "only TimeStampReq v1 is supported")
        if algo not in ACCEPTED_DIGESTS:
            return _rejection("bad_alg", f"digest algorithm {algo} is not accepted")
        if len(digest) != ACCEPTED_DIGESTS[algo]:
            return _rejection("bad_data_format", "message imprint has the wrong length")
        cert, key, store, policy = self._args
        stamper = _PolicyTimeStamper(cert, key, certs_to_embed=store, policy_oid=policy,
                                     fixed_dt=now or dt.datetime.now(dt.UTC))
        return stamper.request_tsa_response(req).dump()


def ensure_pilot_tsa(ca) -> LocalTSA:
    """The pilot TSA of an internal CA directory: its certificate and (encrypted) key are created once,
    issued by the root with the ``tsa`` profile, and reused afterwards."""
    cert_path, key_path = ca.dir / "tsa.cert.pem", ca.dir / "tsa.key.pem"
    if not cert_path.exists():
        issued = ca.issue("root", "tsa", "Dịch vụ cấp dấu thời gian thí điểm", org="Sở Giáo dục và Đào tạo",
                          days=1825)
        key_path.write_bytes(issued.key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                                                      ser.BestAvailableEncryption(ca.passphrase)))
        cert_path.write_bytes(issued.cert.public_bytes(ser.Encoding.PEM))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ser.load_pem_private_key(key_path.read_bytes(), password=ca.passphrase)
    return LocalTSA(cert, key, ca.chain("root"))
