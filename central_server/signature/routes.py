"""Signature HTTP API (JSON under /api/signature), the public verification endpoint, the pilot PKI
(/signature/pki: CA certificates, CRL, OCSP, RFC 3161) and the pages (pages.py)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from central_server.core.templating import add_nav, templates

from . import service
from .deps import CurrentUser, DbSession, Settings, configure, http_error, read_upload, source_from_form
from .errors import SignatureFailure
from .pages import router as pages_router
from .pages_attendance import router as attendance_pages_router
from .routes_attendance import router as attendance_router
from .routes_pki import make_pki_router
from .schemas import ChangeOut, DocumentIn, DocumentOut, EditIn, UnlockIn
from .tables import SignatureApplied, SignatureDocument, SignatureVersion
from .validation import verify_pdf_async

router = APIRouter(tags=["signature"])
api = APIRouter(prefix="/api/signature")


def setup(app: FastAPI) -> None:
    configure(app)
    add_nav("/signature", "Ký số", ("teacher", "school_admin", "province_staff", "province_admin"))
    add_nav("/signature/attendance", "Ký bảng điểm danh", ("teacher", "school_admin"))


def _run(fn, *args):
    try:
        return fn(*args)
    except SignatureFailure as exc:
        raise http_error(exc) from exc


@api.post("/documents", response_model=DocumentOut, status_code=201)
def create_document(data: DocumentIn, session: DbSession, user: CurrentUser, settings: Settings):
    doc = _run(service.create, session, user, data.kind, data.title, data.school_name,
               service.Content(data.info_lines, data.columns, data.rows), data.school_id, data.class_id)
    session.commit()
    return service.document_out(session, doc, settings)


@api.get("/documents/{doc_id}", response_model=DocumentOut)
def get_document(doc_id: str, session: DbSession, user: CurrentUser, settings: Settings):
    doc, _ = _run(service.load, session, user, doc_id)
    return service.document_out(session, doc, settings)


@api.patch("/documents/{doc_id}/cells", response_model=DocumentOut)
def edit_document(doc_id: str, data: EditIn, session: DbSession, user: CurrentUser, settings: Settings):
    _run(service.edit_cells, session, user, doc_id, [(e.row, e.col, e.value) for e in data.edits], data.reason)
    session.commit()
    return get_document(doc_id, session, user, settings)


@api.post("/documents/{doc_id}/lock", response_model=DocumentOut)
def lock_document(doc_id: str, session: DbSession, user: CurrentUser, settings: Settings):
    _run(service.lock, session, user, doc_id, settings)
    session.commit()
    return get_document(doc_id, session, user, settings)


@api.post("/documents/{doc_id}/verify-record", response_model=DocumentOut)
def verify_record(doc_id: str, session: DbSession, user: CurrentUser, settings: Settings):
    _run(service.verify_record, session, user, doc_id, settings)
    session.commit()
    return get_document(doc_id, session, user, settings)


@api.post("/documents/{doc_id}/sign", response_model=DocumentOut)
async def sign_document(doc_id: str, request: Request, session: DbSession, user: CurrentUser, settings: Settings,
                        field: str = Form(...), method: str = Form("pkcs12"), password: str = Form(""),
                        credential_id: str = Form(""), pin: str = Form(""), level: str | None = Form(None),
                        p12: Annotated[UploadFile | None, File()] = None):
    await run_in_threadpool(_run, service.load, session, user, doc_id)  # scope first: nothing read from others
    source = await source_from_form(settings, method, p12, password, credential_id, pin)
    await run_in_threadpool(_run, service.sign, session, user, doc_id, field, source, settings, level)
    session.commit()
    return await run_in_threadpool(get_document, doc_id, session, user, settings)


@api.post("/documents/{doc_id}/unlock", response_model=DocumentOut)
def unlock_document(doc_id: str, data: UnlockIn, session: DbSession, user: CurrentUser, settings: Settings):
    _run(service.unlock, session, user, doc_id, data.reason)
    session.commit()
    return get_document(doc_id, session, user, settings)


@api.get("/documents/{doc_id}/changes", response_model=list[ChangeOut])
def document_changes(doc_id: str, session: DbSession, user: CurrentUser):
    _run(service.load, session, user, doc_id)
    return [ChangeOut.model_validate(c) for c in service.changes(session, doc_id)]


@api.get("/documents/{doc_id}/versions/{version}.pdf")
def version_pdf(doc_id: str, version: int, session: DbSession, user: CurrentUser):
    _run(service.load, session, user, doc_id)
    ver = session.scalars(select(SignatureVersion).where(SignatureVersion.document_id == doc_id,
                                                         SignatureVersion.version == version)).first()
    if ver is None or ver.pdf is None:
        raise HTTPException(404, "Phiên bản này chưa có tệp PDF.")
    return Response(ver.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{doc_id}-v{version}.pdf"'})


def registered_copy(session, pdf: bytes) -> dict | None:
    """Which registered version (and which signing step of it) this exact file is, if any."""
    digest = hashlib.sha256(pdf).hexdigest()
    ver = service.find_registered(session, pdf)
    if ver is None:
        applied = session.scalars(select(SignatureApplied).where(SignatureApplied.pdf_sha256 == digest)).first()
        ver = session.get(SignatureVersion, applied.version_id) if applied else None
    if ver is None:
        return None
    doc = session.get(SignatureDocument, ver.document_id)
    return {"document_id": doc.id, "title": doc.title, "version": ver.version, "status": ver.status,
            "current_version": doc.current_version, "superseded": ver.superseded_at is not None}


async def verify_bytes(request: Request, session, pdf: bytes) -> tuple[dict, dict | None]:
    settings = request.app.state.signature_settings
    report = await verify_pdf_async(pdf, settings.load_trust_roots(), online=settings.online_revocation)
    return report.as_dict(), await run_in_threadpool(registered_copy, session, pdf)


@router.post("/signature/verify")
async def verify_endpoint(request: Request, session: DbSession, file: Annotated[UploadFile, File()]):
    """Public: verify an uploaded signed PDF (JSON for API clients, a Vietnamese page for browsers)."""
    pdf = await read_upload(file, request.app.state.settings.max_upload_bytes, "tệp PDF")
    try:
        report, registered = await verify_bytes(request, session, pdf)
    except SignatureFailure as exc:
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(request, "signature/verify.html",
                                              {"error": str(exc), "user": getattr(request.state, "user", None)},
                                              status_code=422)
        raise http_error(exc) from exc
    if "text/html" in request.headers.get("accept", ""):
        return templates.TemplateResponse(request, "signature/verify.html",
                                          {"report": report, "registered": registered, "filename": file.filename,
                                           "user": getattr(request.state, "user", None)})
    return JSONResponse(jsonable(report | {"registered": registered}))


def jsonable(value):
    return jsonable_encoder(value)


router.include_router(api)
router.include_router(attendance_router)
router.include_router(attendance_pages_router)
router.include_router(pages_router)
router.include_router(make_pki_router(lambda r: r.app.state.signature_ca, lambda r: r.app.state.signature_tsa),
                      prefix="/signature/pki")
