"""HTTP face of the pilot PKI: CA certificates, CRLs, OCSP and the RFC 3161 time-stamping unit.

``make_pki_router(get_ca, get_tsa)`` builds the router; the signature module mounts it under
``/signature/pki`` and the tests mount it in a bare app, so the same endpoints serve both.
Public on purpose: validators anywhere must reach revocation data without logging in.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, HTTPException, Request, Response

from .internal_ca import CAError, InternalCA
from .revocation import build_crl, ocsp_respond
from .tsa import LocalTSA

MAX_REQUEST_BYTES = 64 * 1024


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_REQUEST_BYTES:
        raise HTTPException(413, "yêu cầu quá lớn")
    return body


def make_pki_router(get_ca: Callable[[Request], InternalCA | None],
                    get_tsa: Callable[[Request], LocalTSA | None]) -> APIRouter:
    """``get_ca(request)`` / ``get_tsa(request)`` return the CA and TSA to serve (None: not configured)."""
    router = APIRouter()

    def ca_or_404(request: Request) -> InternalCA:
        ca = get_ca(request)
        if ca is None or not ca.exists():
            raise HTTPException(404, "CA nội bộ chưa được khởi tạo")
        return ca

    @router.get("/ca/{ca_id}.cer")
    def ca_certificate(ca_id: str, request: Request) -> Response:
        try:
            cert = ca_or_404(request).cert(ca_id)
        except CAError as exc:
            raise HTTPException(404, "không có CA này") from exc
        return Response(cert.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert")

    @router.get("/crl/{ca_id}.crl")
    def crl(ca_id: str, request: Request) -> Response:
        try:
            der = build_crl(ca_or_404(request), ca_id)
        except CAError as exc:
            raise HTTPException(404, "không có CA này") from exc
        return Response(der, media_type="application/pkix-crl")

    def _ocsp(request: Request, ca_id: str, der: bytes) -> Response:
        try:
            answer = ocsp_respond(ca_or_404(request), ca_id, der)
        except CAError as exc:
            raise HTTPException(404, "không có CA này") from exc
        return Response(answer, media_type="application/ocsp-response")

    @router.post("/ocsp/{ca_id}")
    async def ocsp_post(ca_id: str, request: Request) -> Response:
        return _ocsp(request, ca_id, await _body(request))

    @router.get("/ocsp/{ca_id}/{encoded:path}")
    def ocsp_get(ca_id: str, encoded: str, request: Request) -> Response:
        try:
            der = base64.b64decode(encoded.replace("%2B", "+").replace("%2F", "/").replace("%3D", "="))
        except ValueError:
            der = b""
        return _ocsp(request, ca_id, der)

    @router.post("/tsa")
    async def timestamp(request: Request) -> Response:
        tsa = get_tsa(request)
        if tsa is None:
            raise HTTPException(404, "dịch vụ cấp dấu thời gian chưa được cấu hình")
        return Response(tsa.respond(await _body(request)), media_type="application/timestamp-reply")

    return router
