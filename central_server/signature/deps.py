"""Shared pieces of the signature handlers: settings, the pilot PKI on app.state, error mapping, uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
from sqlalchemy.orm import Session

from central_server.core.auth import current_user
from central_server.core.db import get_session
from central_server.core.tables import User

from .config import SignatureSettings
from .errors import SignatureFailure
from .internal_ca import InternalCA
from .signers import Pkcs12Source, RemoteSource, SignerError
from .tsa import ensure_pilot_tsa

DbSession = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_user)]
STATUS_FOR_CODE = {"not_found": 404, "forbidden": 403, "out_of_order": 409, "locked": 409, "field_signed": 409,
                   "docmdp_forbids": 409, "not_finalised": 409, "no_marks": 409, "stale": 409, "ambiguous": 422,
                   "bad_input": 422, "certificate_not_yours": 403}


def configure(app: FastAPI) -> None:
    """Settings and (when ``ca_dir`` is set) the pilot CA + TSA; tests may replace them afterwards."""
    settings = getattr(app.state, "signature_settings", None) or SignatureSettings()
    app.state.signature_settings = settings
    app.state.signature_ca = None
    app.state.signature_tsa = None
    if settings.ca_dir and settings.ca_passphrase:
        ca = InternalCA(settings.ca_dir, settings.ca_passphrase, settings.pki_base_url())
        app.state.signature_ca = ca
        if ca.exists():
            app.state.signature_tsa = ensure_pilot_tsa(ca)


def sig_settings(request: Request) -> SignatureSettings:
    return request.app.state.signature_settings


Settings = Annotated[SignatureSettings, Depends(sig_settings)]


def http_error(exc: SignatureFailure) -> HTTPException:
    if isinstance(exc, SignerError):
        return HTTPException(400, str(exc))
    return HTTPException(STATUS_FOR_CODE.get(exc.code, 422), str(exc))


async def read_upload(upload: UploadFile, limit: int, what: str = "tệp") -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{what} quá lớn (tối đa {limit // 1024 // 1024} MB).")
    if not data:
        raise HTTPException(422, f"Chưa chọn {what}.")
    return data


async def source_from_form(settings: SignatureSettings, method: str, p12: UploadFile | None, password: str,
                           credential_id: str, pin: str):
    if method == "pkcs12":
        if p12 is None or not p12.filename:
            raise HTTPException(422, "Chưa chọn tệp chứng thư số (.p12/.pfx).")
        return Pkcs12Source(await read_upload(p12, 1024 * 1024, "tệp chứng thư số"), password)
    if method == "remote":
        if not settings.csc_service_url:
            raise HTTPException(422, "Chưa cấu hình dịch vụ ký số từ xa.")
        if not credential_id or not pin:
            raise HTTPException(422, "Cần mã chứng thư (credential) và mã PIN của dịch vụ ký số từ xa.")
        return RemoteSource(settings.csc_service_url, credential_id, pin)
    raise HTTPException(422, "Phương thức ký không hợp lệ (pkcs12 hoặc remote; USB token ký bằng công cụ "
                             "dòng lệnh trên máy có cắm token).")
