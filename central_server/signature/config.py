"""Typed settings of the signature module (environment prefix ``CENTRAL_SIGNATURE_``)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SignatureSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_SIGNATURE_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    # where the public verification page is reached (printed in each PDF's QR code)
    public_base_url: str = "http://127.0.0.1:8000"
    # PAdES level for workflow signatures; B-LT embeds chain + OCSP/CRL (needs them reachable)
    default_level: str = Field(default="B-LT", pattern=r"^B-(B|T|LT|LTA)$")
    # RFC 3161 service; empty = the pilot TSA of this server (<public_base_url>/signature/pki/tsa)
    tsa_url: str = ""
    # trusted roots for signing checks and verification (PEM files: VGCA root, licensed CAs, pilot root)
    trust_roots: list[Path] = []
    # pilot internal CA (no legal standing); empty ca_dir = no internal CA served
    ca_dir: Path | None = None
    ca_passphrase: str = ""
    # remote signing service speaking the CSC API v1 (empty = not offered)
    csc_service_url: str = ""
    online_revocation: bool = True
    authority_name: str = "SỞ GIÁO DỤC VÀ ĐÀO TẠO THÀNH PHỐ CẦN THƠ"
    place_name: str = "Sóc Trăng"

    def pki_base_url(self) -> str:
        return f"{self.public_base_url.rstrip('/')}/signature/pki"

    def effective_tsa_url(self) -> str:
        return self.tsa_url or f"{self.pki_base_url()}/tsa"

    def load_trust_roots(self) -> list[x509.Certificate]:
        roots: list[x509.Certificate] = []
        for path in self.trust_roots:
            data = Path(path).read_bytes()
            roots += x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [
                x509.load_der_x509_certificate(data)]
        return roots
