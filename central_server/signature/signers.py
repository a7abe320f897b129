"""The three ways to reach a signing key, behind one interface.

Each source's ``open()`` is an async context manager yielding a pyHanko ``Signer``:

* ``Pkcs12Source``  – a PKCS#12 file and its password (pilot; the key is in memory only while signing);
* ``Pkcs11Source``  – a PKCS#11 token (VGCA USB tokens; SoftHSM2 in the tests): the key never leaves it;
* ``RemoteSource``  – a remote signing service speaking the Cloud Signature Consortium API v1
  (``credentials/info``, ``credentials/authorize`` with the PIN, ``signatures/signHash``): only the
  hash travels, the key stays at the service.

Failures become ``SignerError`` with a Vietnamese message a teacher can act on (wrong PIN, wrong
password, token absent, key not found, service unreachable); the technical cause is chained.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from asn1crypto import pkcs12 as asn1_pkcs12
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)

from .errors import SignatureFailure


class SignerError(SignatureFailure):
    """A signing key could not be used (wrong PIN / password, token absent, key not found ...)."""


@dataclass(frozen=True)
class Pkcs12Source:
    data: bytes = field(repr=False)
    password: str = field(repr=False)
    kind = "pkcs12"

    @classmethod
    def from_file(cls, path: str | Path, password: str) -> Pkcs12Source:
        try:
            return cls(Path(path).read_bytes(), password)
        except OSError as exc:
            raise SignerError(f"Không đọc được tệp chứng thư số {path}: {exc.strerror}.", "p12_unreadable") from exc

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Signer]:
        try:
            asn1_pkcs12.Pfx.load(self.data).native  # noqa: B018 - structure check only
        except (ValueError, TypeError) as exc:
            raise SignerError("Tệp không phải chứng thư số PKCS#12 (.p12/.pfx) hợp lệ.", "p12_corrupt") from exc
        try:
            signer = SimpleSigner.load_pkcs12_data(self.data, other_certs=[],
                                                   passphrase=self.password.encode("utf-8"))
        except ValueError as exc:
            raise SignerError("Sai mật khẩu tệp chứng thư số PKCS#12.", "wrong_password") from exc
        yield signer


@dataclass(frozen=True)
class Pkcs11Source:
    module: str
    pin: str = field(repr=False)
    key_label: str | None = None
    cert_label: str | None = None
    slot: int | None = None
    token_label: str | None = None
    kind = "pkcs11"

    def _open_session(self):
        # python-pkcs11 and pyHanko's PKCS#11 layer load only when a token is used (native library, heavy)
        import pkcs11
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import open_pkcs11_session

        criteria = TokenCriteria(label=self.token_label) if self.token_label else None
        try:
            return open_pkcs11_session(self.module, slot_no=self.slot, token_criteria=criteria,
                                       user_pin=self.pin)
        except pkcs11.PinIncorrect as exc:
            raise SignerError("Sai mã PIN của thiết bị ký số (USB token).", "wrong_pin") from exc
        except pkcs11.PinLocked as exc:
            raise SignerError("Thiết bị ký số đã bị khoá do nhập sai PIN nhiều lần; liên hệ đơn vị cấp "
                              "chứng thư số để mở khoá.", "pin_locked") from exc
        except pkcs11.PinLenRange as exc:
            raise SignerError("Mã PIN có độ dài không hợp lệ.", "wrong_pin") from exc
        except (pkcs11.PKCS11Error, OSError, RuntimeError) as exc:
            raise SignerError(f"Không mở được thiết bị ký số (kiểm tra USB token đã cắm và trình điều khiển "
                              f"{self.module}): {exc}", "token_unavailable") from exc

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Signer]:
        import pkcs11  # only when a token is used (see _open_session)
        from pyhanko.sign.pkcs11 import PKCS11Signer

        if not (self.key_label or self.cert_label):
            raise SignerError("Cần chỉ rõ nhãn khoá (key label) trên thiết bị ký số.", "key_not_found")
        session = await asyncio.to_thread(self._open_session)
        try:
            signer = PKCS11Signer(session, cert_label=self.cert_label or self.key_label,
                                  key_label=self.key_label, other_certs_to_pull=None)
            try:
                await signer.ensure_objects_loaded()
            except (pkcs11.PKCS11Error, SigningError) as exc:
                raise SignerError(f"Không tìm thấy khoá hoặc chứng thư số có nhãn "
                                  f"'{self.key_label or self.cert_label}' trên thiết bị ký số.",
                                  "key_not_found") from exc
            yield signer
        finally:
            await asyncio.to_thread(session.close)


class _PinAuthorization(CSCAuthorizationManager):
    """CSC ``credentials/authorize`` with the user's PIN, once per signature (SCAL 2: the SAD is bound
    to the hashes being signed)."""

    def __init__(self, session_info, credential_info, http: aiohttp.ClientSession, pin: str):
        super().__init__(session_info, credential_info)
        self._http, self._pin = http, pin

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        body = self.format_csc_auth_request(pin=self._pin, hash_b64s=hash_b64s)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self._http.post(url, json=body, headers=self.auth_headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                if data.get("error") in ("invalid_pin", "invalid_otp"):
                    raise SignerError("Sai mã PIN của dịch vụ ký số từ xa.", "wrong_pin")
                raise SignerError(f"Dịch vụ ký số từ xa từ chối cấp quyền ký: "
                                  f"{data.get('error_description') or data.get('error')}.", "remote_refused")
        return self.parse_csc_auth_response(data)


@dataclass(frozen=True)
class RemoteSource:
    service_url: str
    credential_id: str
    pin: str = field(repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    kind = "remote"

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Signer]:
        info = CSCServiceSessionInfo(self.service_url.rstrip("/"), self.credential_id, self.oauth_token)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            try:
                cred = await fetch_certs_in_csc_credential(http, info)
            except SigningError as exc:
                raise SignerError(f"Không lấy được chứng thư số '{self.credential_id}' từ dịch vụ ký số từ xa "
                                  f"{self.service_url}.", "remote_unavailable") from exc
            yield CSCSigner(http, _PinAuthorization(info, cred, http, self.pin))


SignerSource = Pkcs12Source | Pkcs11Source | RemoteSource
