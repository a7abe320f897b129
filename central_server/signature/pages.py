"""Vietnamese pages: my documents, a document's workflow (lock, verify, sign, unlock), the public page the
QR code opens, and the public upload-and-verify page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from central_server.core.templating import templates

from . import access, service
from .deps import CurrentUser, DbSession, Settings, source_from_form
from .errors import SignatureFailure
from .tables import SignatureApplied, SignatureDocument, SignatureVersion

router = APIRouter()


def _page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context["status_labels"] = service.STATUS_LABELS
    return templates.TemplateResponse(request, f"signature/{name}", context, status_code=status)


def _signatures(session, version_id: int) -> list[SignatureApplied]:
    return list(session.scalars(select(SignatureApplied).where(SignatureApplied.version_id == version_id)
                                .order_by(SignatureApplied.id)))


@router.get("/signature", response_class=HTMLResponse)
def my_documents(request: Request, session: DbSession, user: CurrentUser):
    q = select(SignatureDocument).order_by(SignatureDocument.created_at.desc()).limit(200)
    if user.role not in access.PROVINCE:
        q = q.where(SignatureDocument.school_id == user.school_id)
    current = {d.id: (d, service.current_version(session, d)) for d in session.scalars(q)}
    classes = access.teacher_classes(session, user)
    docs = [d for d, v in current.values() if access.may_open(session, user, d, v.content, classes)]
    status = {d.id: current[d.id][1].status for d in docs}
    return _page(request, "list.html", {"docs": docs, "status": status})


def _detail(request: Request, session, user, doc_id: str, settings, error: str = "", status: int = 200):
    doc, ver = service.load(session, user, doc_id)
    vers = [(v, _signatures(session, v.id)) for v in service.versions(session, doc_id)]
    return _page(request, "document.html", {"attendance": service.source_state(session, doc, ver.content),
        "doc": doc, "ver": ver, "versions": vers, "changes": service.changes(session, doc_id), "error": error,
        "message": request.query_params.get("msg", ""), "remote": bool(settings.csc_service_url),
        "steps": service.SIGN_STEPS}, status)


@router.get("/signature/documents/{doc_id}", response_class=HTMLResponse)
def document_page(doc_id: str, request: Request, session: DbSession, user: CurrentUser, settings: Settings):
    try:
        return _detail(request, session, user, doc_id, settings)
    except SignatureFailure as exc:
        return _page(request, "verify.html", {"error": str(exc)}, 404 if exc.code == "not_found" else 403)


def _done(doc_id: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"/signature/documents/{doc_id}?msg={quote(msg)}", status_code=303)


def _failed(request, session, user, doc_id, settings, exc: SignatureFailure):
    session.rollback()
    code = 403 if exc.code == "forbidden" else 409 if exc.code in ("out_of_order", "locked") else 400
    try:
        return _detail(request, session, user, doc_id, settings, error=str(exc), status=code)
    except SignatureFailure:
        return _page(request, "verify.html", {"error": str(exc)}, code)


@router.post("/signature/documents/{doc_id}/lock")
def lock_form(doc_id: str, request: Request, session: DbSession, user: CurrentUser, settings: Settings):
    try:
        service.lock(session, user, doc_id, settings)
    except SignatureFailure as exc:
        return _failed(request, session, user, doc_id, settings, exc)
    session.commit()
    return _done(doc_id, "Đã khoá tài liệu.")


@router.post("/signature/documents/{doc_id}/verify-record")
def verify_form(doc_id: str, request: Request, session: DbSession, user: CurrentUser, settings: Settings):
    try:
        service.verify_record(session, user, doc_id, settings)
    except SignatureFailure as exc:
        return _failed(request, session, user, doc_id, settings, exc)
    session.commit()
    return _done(doc_id, "Đã xác nhận kiểm tra hồ sơ.")


@router.post("/signature/documents/{doc_id}/sign")
async def sign_form(doc_id: str, request: Request, session: DbSession, user: CurrentUser, settings: Settings,
                    field: str = Form(...), method: str = Form("pkcs12"), password: str = Form(""),
                    credential_id: str = Form(""), pin: str = Form(""),
                    p12: Annotated[UploadFile | None, File()] = None):
    try:
        await run_in_threadpool(service.load, session, user, doc_id)  # scope first: nothing read from others
        source = await source_from_form(settings, method, p12, password, credential_id, pin)
        await run_in_threadpool(service.sign, session, user, doc_id, field, source, settings)
    except HTTPException as exc:
        return await run_in_threadpool(_failed, request, session, user, doc_id, settings,
                                       SignatureFailure(str(exc.detail), "bad_input"))
    except SignatureFailure as exc:
        return await run_in_threadpool(_failed, request, session, user, doc_id, settings, exc)
    session.commit()
    return _done(doc_id, "Đã ký số thành công.")


@router.post("/signature/documents/{doc_id}/unlock")
def unlock_form(doc_id: str, request: Request, session: DbSession, user: CurrentUser, settings: Settings,
                reason: str = Form("")):
    try:
        new = service.unlock(session, user, doc_id, reason)
    except SignatureFailure as exc:
        return _failed(request, session, user, doc_id, settings, exc)
    session.commit()
    return _done(doc_id, f"Đã mở khoá: tạo phiên bản {new.version}; phiên bản cũ vẫn được lưu và kiểm tra được.")


@router.get("/signature/d/{doc_id}", response_class=HTMLResponse)
def public_document(doc_id: str, request: Request, session: DbSession):
    """The page the QR code opens: what was registered (no personal data) and an upload to check a copy."""
    doc = session.get(SignatureDocument, doc_id)
    if doc is None:
        return _page(request, "public.html", {"doc": None}, 404)
    vers = list(session.scalars(select(SignatureVersion).where(SignatureVersion.document_id == doc_id)
                                .order_by(SignatureVersion.version)))
    return _page(request, "public.html", {"doc": doc, "versions": [(v, _signatures(session, v.id)) for v in vers]})


@router.get("/signature/verify", response_class=HTMLResponse)
def verify_page(request: Request):
    return _page(request, "verify.html", {})
