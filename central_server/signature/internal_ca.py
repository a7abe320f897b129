"""The pilot's internal CA: a root, one intermediate per school, teacher / school / TSA certificates.

An internal CA has NO legal standing in Vietnam (Law 20/2023 Art. 22; Decree 68/2024; Decree 23/2025):
production signatures use VGCA public-service certificates or a licensed CA. This CA exists so that the
pilot and the tests exercise the whole PKI (chains, key usages, CRL, OCSP, time-stamps) end to end.

State lives in one directory: ``<id>.key.pem`` (encrypted with the CA passphrase), ``<id>.cert.pem``,
``index.json`` (the CAs it holds) and ``revoked.json`` (serial -> date, reason). Writes are atomic.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)
ROOT_ID = "root"
PROFILES = ("teacher", "school", "tsa", "encryption_only")


class CAError(Exception):
    """A CA operation that cannot be done (unknown CA, wrong passphrase, bad profile)."""


@dataclass(frozen=True)
class Issued:
    """A freshly issued end-entity certificate and (when the CA generated it) its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey | None
    chain: list[x509.Certificate]  # issuer first, root last

    def pkcs12(self, password: str, name: str = "signer") -> bytes:
        if self.key is None:
            raise CAError("the key of this certificate is not held here (token or remote service)")
        return pkcs12.serialize_key_and_certificates(
            name.encode(), self.key, self.cert, self.chain,
            serialization.BestAvailableEncryption(password.encode()),
        )


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _name(cn: str, org: str | None = None, unit: str | None = None, email: str | None = None) -> x509.Name:
    for value in (cn, org, unit):
        if value is not None and not 1 <= len(value.encode("utf-8")) <= 64:
            raise CAError(f"name part {value!r} must be 1..64 bytes of UTF-8 (RFC 5280 upper bounds)")
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class InternalCA:
    """File-backed pilot CA. ``base_url`` is where its CRL / OCSP / certificates are served
    (``<base_url>/crl/<ca>.crl``, ``<base_url>/ocsp/<ca>``, ``<base_url>/ca/<ca>.cer``)."""

    def __init__(self, directory: str | Path, passphrase: str, base_url: str):
        if not passphrase:
            raise CAError("the CA passphrase must not be empty")
        self.dir = Path(directory)
        self.passphrase = passphrase.encode()
        self.base_url = base_url.rstrip("/")

    # ---- storage -------------------------------------------------------------------------------
    def _index(self) -> dict:
        path = self.dir / "index.json"
        return json.loads(path.read_text("utf-8")) if path.exists() else {}

    def _save_index(self, index: dict) -> None:
        _atomic_write(self.dir / "index.json", json.dumps(index, ensure_ascii=False, indent=1).encode())

    def exists(self) -> bool:
        return ROOT_ID in self._index()

    def ca_ids(self) -> list[str]:
        return list(self._index())

    def cert(self, ca_id: str) -> x509.Certificate:
        path = self.dir / f"{ca_id}.cert.pem"
        if ca_id not in self._index() or not path.exists():
            raise CAError(f"unknown CA {ca_id!r}")
        return x509.load_pem_x509_certificate(path.read_bytes())

    def key(self, ca_id: str) -> rsa.RSAPrivateKey:
        try:
            key = serialization.load_pem_private_key(
                (self.dir / f"{ca_id}.key.pem").read_bytes(), password=self.passphrase)
        except FileNotFoundError as exc:
            raise CAError(f"unknown CA {ca_id!r}") from exc
        except ValueError as exc:
            raise CAError("wrong CA passphrase") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CAError(f"CA {ca_id!r} key is not an RSA key")
        return key

    def root(self) -> x509.Certificate:
        return self.cert(ROOT_ID)

    def chain(self, ca_id: str) -> list[x509.Certificate]:
        """The certificates from CA ``ca_id`` up to and including the root."""
        out = [self.cert(ca_id)]
        while self._index()[ca_id]["parent"] is not None:
            ca_id = self._index()[ca_id]["parent"]
            out.append(self.cert(ca_id))
        return out

    def _store_ca(self, ca_id: str, cert: x509.Certificate, key: rsa.RSAPrivateKey,
                  parent: str | None, label: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.dir / f"{ca_id}.key.pem", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self.passphrase)))
        _atomic_write(self.dir / f"{ca_id}.cert.pem", cert.public_bytes(serialization.Encoding.PEM))
        index = self._index()
        index[ca_id] = {"parent": parent, "label": label, "serial": format(cert.serial_number, "x")}
        self._save_index(index)

    # ---- issuance ------------------------------------------------------------------------------
    def _builder(self, subject: x509.Name, issuer: x509.Certificate | None, public_key,
                 days: int, not_before: dt.datetime | None = None) -> x509.CertificateBuilder:
        start = not_before or (_now() - dt.timedelta(minutes=5))
        builder = (x509.CertificateBuilder()
                   .subject_name(subject)
                   .issuer_name(issuer.subject if issuer else subject)
                   .public_key(public_key)
                   .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
                   .not_valid_before(start)
                   .not_valid_after(start + dt.timedelta(days=days))
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
        if issuer is not None:
            ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        return builder

    def _revocation_pointers(self, builder: x509.CertificateBuilder, issuer_id: str,
                             ocsp: bool = True) -> x509.CertificateBuilder:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(f"{self.base_url}/crl/{issuer_id}.crl")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
        access = [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                         x509.UniformResourceIdentifier(f"{self.base_url}/ca/{issuer_id}.cer"))]
        if ocsp:
            access.insert(0, x509.AccessDescription(
                x509.AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"{self.base_url}/ocsp/{issuer_id}")))
        return builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)

    def init_root(self, name: str = "CA nội bộ thí điểm Sở GD&ĐT", days: int = 3650) -> x509.Certificate:
        if self.exists():
            raise CAError("the root CA already exists in this directory")
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        subject = _name(name, "Sở Giáo dục và Đào tạo", "Không có giá trị pháp lý")
        builder = (self._builder(subject, None, key.public_key(), days)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                encipher_only=False, decipher_only=False), critical=True))
        cert = builder.sign(key, hashes.SHA256())
        self._store_ca(ROOT_ID, cert, key, None, name)
        return cert

    def add_school_ca(self, school_code: str, school_name: str, days: int = 1825) -> x509.Certificate:
        """An intermediate CA for one school (issues its teachers' and its organisation certificate)."""
        ca_id = f"school-{school_code}"
        if ca_id in self._index():
            return self.cert(ca_id)
        root, root_key = self.root(), self.key(ROOT_ID)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        builder = self._builder(_name(f"CA {school_name}", school_name, "CA nội bộ thí điểm"),
                                root, key.public_key(), days)
        builder = (self._revocation_pointers(builder, ROOT_ID)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                encipher_only=False, decipher_only=False), critical=True))
        cert = builder.sign(root_key, hashes.SHA256())
        self._store_ca(ca_id, cert, key, ROOT_ID, school_name)
        return cert

    def issue(self, issuer_id: str, profile: str, common_name: str, *, org: str | None = None,
              title: str | None = None, email: str | None = None, public_key=None, days: int = 365,
              not_before: dt.datetime | None = None) -> Issued:
        """Issue an end-entity certificate.

        profile ``teacher`` (a person: digitalSignature + nonRepudiation, EKU emailProtection +
        documentSigning), ``school`` (the organisation, same usages), ``tsa`` (RFC 3161 unit: EKU
        timeStamping, critical), ``encryption_only`` (keyEncipherment only: must be refused for signing).
        With ``public_key`` the key stays where it was generated (a token, a remote service)."""
        if profile not in PROFILES:
            raise CAError(f"unknown certificate profile {profile!r}; one of {', '.join(PROFILES)}")
        issuer, issuer_key = self.cert(issuer_id), self.key(issuer_id)
        key = None
        if public_key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public_key = key.public_key()
        signing = profile != "encryption_only"
        builder = self._builder(_name(common_name, org, title, email), issuer, public_key, days, not_before)
        builder = (self._revocation_pointers(builder, issuer_id, ocsp=profile != "tsa")
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=signing, content_commitment=signing,
                                                key_encipherment=not signing, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True))
        if profile == "tsa":
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                                            critical=True)
        elif signing:
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]), critical=False)
        if email:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]),
                                            critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        self._record_issued(cert, issuer_id)
        return Issued(cert=cert, key=key, chain=self.chain(issuer_id))

    def _record_issued(self, cert: x509.Certificate, issuer_id: str) -> None:
        issued_dir = self.dir / "issued"
        issued_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(issued_dir / f"{cert.serial_number:x}.pem", cert.public_bytes(serialization.Encoding.PEM))

    def issued_cert(self, serial: int) -> x509.Certificate | None:
        path = self.dir / "issued" / f"{serial:x}.pem"
        return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None

    # ---- revocation state (responses are built in revocation.py) --------------------------------
    def _revoked(self) -> dict:
        path = self.dir / "revoked.json"
        return json.loads(path.read_text("utf-8")) if path.exists() else {}

    def revoke(self, serial: int, reason: str = "key_compromise", when: dt.datetime | None = None) -> None:
        """Revoke a certificate issued here (idempotent: the first revocation date is kept)."""
        if reason not in {f.name for f in x509.ReasonFlags}:
            raise CAError(f"unknown revocation reason {reason!r}")
        key = format(serial, "x")
        cert = self.issued_cert(serial)
        cas = {v["serial"]: k for k, v in self._index().items()}
        if cert is None and key not in cas:
            raise CAError(f"certificate {key} was not issued by this CA")
        revoked = self._revoked()
        revoked.setdefault(key, {"date": (when or _now()).isoformat(), "reason": reason})
        _atomic_write(self.dir / "revoked.json", json.dumps(revoked, indent=1).encode())

    def revocation(self, serial: int) -> tuple[dt.datetime, x509.ReasonFlags] | None:
        entry = self._revoked().get(format(serial, "x"))
        if entry is None:
            return None
        return dt.datetime.fromisoformat(entry["date"]), x509.ReasonFlags[entry["reason"]]

    def revoked_by(self, issuer_id: str) -> list[tuple[int, dt.datetime, x509.ReasonFlags]]:
        issuer = self.cert(issuer_id)
        out = []
        for key, entry in self._revoked().items():
            serial = int(key, 16)
            cert = self.issued_cert(serial)
            if cert is None:  # a revoked sub-CA
                ca_id = {v["serial"]: k for k, v in self._index().items()}.get(key)
                cert = self.cert(ca_id) if ca_id else None
            if cert is not None and cert.issuer == issuer.subject:
                out.append((serial, dt.datetime.fromisoformat(entry["date"]), x509.ReasonFlags[entry["reason"]]))
        return out
