"""Record workflow (no HTTP): enter → lock → (records: homeroom verifies) → principal signs → school signs.

* ``attendance``: the teacher enters/edits, locks, then signs the rendered PDF (field ``GiaoVien``).
* ``record`` (sổ điểm / học bạ extract): the teacher enters and locks; the homeroom teacher verifies
  (the PDF is rendered then, naming the verifier); the principal signs with a personal certificate
  (``HieuTruong``, certifying DocMDP level 2); the school signs with its organisation certificate
  (``NhaTruong``).

Any change after locking needs an admin unlock: a NEW version (draft, content copied) is created, the
unlock and every later edit are logged (who, when, old value, new value, reason); the earlier version
keeps its signed PDF, which stays verifiable. Every step is audited through ``core.audit``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.db import utcnow
from central_server.core.tables import User

from . import access
from .binding import check_holder, describe
from .config import SignatureSettings
from .errors import SignatureFailure, WorkflowError
from .pades import SignOptions, sign_pdf
from .pdf_render import SignableDocument, SignatureSlot, render_pdf
from .schemas import DocumentOut, SignedOut, VersionOut
from .signers import SignerSource
from .tables import SignatureApplied, SignatureChange, SignatureDocument, SignatureVersion
from .validation import verify_pdf

KINDS = ("attendance", "record")
# field -> (kind, status before, status after, roles allowed, label)
SIGN_STEPS = {
    "GiaoVien": ("attendance", "locked", "completed", ("teacher",), "Giáo viên"),
    "HieuTruong": ("record", "verified", "principal_signed", ("school_admin",), "Hiệu trưởng"),
    "NhaTruong": ("record", "principal_signed", "completed", ("school_admin",), "Nhà trường"),
}
STATUS_LABELS = {"draft": "Đang nhập", "locked": "Đã khoá", "verified": "GVCN đã kiểm tra",
                 "principal_signed": "Hiệu trưởng đã ký", "completed": "Hoàn tất", "superseded": "Đã thay thế"}


@dataclass(frozen=True)
class Content:
    info_lines: list[str]
    columns: list[str]
    rows: list[list[str]]

    def as_dict(self) -> dict:
        return {"info_lines": self.info_lines, "columns": self.columns, "rows": self.rows}


def load(session: Session, user: User, doc_id: str) -> tuple[SignatureDocument, SignatureVersion]:
    doc = session.get(SignatureDocument, doc_id)
    if doc is None:
        raise WorkflowError("Không tìm thấy tài liệu.", "not_found")
    ver = current_version(session, doc)
    access.check_scope(session, user, doc, ver.content)
    return doc, ver


def current_version(session: Session, doc: SignatureDocument, for_update: bool = False) -> SignatureVersion:
    q = select(SignatureVersion).where(SignatureVersion.document_id == doc.id,
                                       SignatureVersion.version == doc.current_version)
    return session.scalars(q.with_for_update() if for_update else q).one()


def versions(session: Session, doc_id: str) -> list[SignatureVersion]:
    return list(session.scalars(select(SignatureVersion).where(SignatureVersion.document_id == doc_id)
                                .order_by(SignatureVersion.version)))


def create(session: Session, user: User, kind: str, title: str, school_name: str, content: Content,
           school_id: int | None = None, class_id: int | None = None) -> SignatureDocument:
    if kind not in KINDS:
        raise WorkflowError(f"Loại tài liệu không hợp lệ: {kind}.", "bad_kind")
    school_id = access.creation_school(session, user, kind, school_id, class_id)
    if any(len(r) != len(content.columns) for r in content.rows):
        raise WorkflowError("Mỗi dòng phải có đúng số cột của tiêu đề.", "bad_content")
    doc = SignatureDocument(id=str(uuid.uuid4()), kind=kind, school_id=school_id,
                            school_name=school_name, title=title, current_version=1, created_by=user.id)
    session.add(doc)
    session.flush()
    body = content.as_dict() | ({"class_id": class_id} if kind == "record" else {})
    session.add(SignatureVersion(document_id=doc.id, version=1, status="draft", content=body, created_by=user.id))
    audit(session, user, "signature.create", f"signature_document:{doc.id}", {"kind": kind, "title": title})
    return doc


def edit_cells(session: Session, user: User, doc_id: str, edits: list[tuple[int, int, str]],
               reason: str = "") -> SignatureVersion:
    doc, ver = load(session, user, doc_id)
    if ver.status != "draft":
        raise WorkflowError("Tài liệu đã khoá; cần quản trị mở khoá (tạo phiên bản mới) trước khi sửa.", "locked")
    access.check_editor(user, doc, ver, "sửa")
    rows = [list(r) for r in ver.content["rows"]]
    for row, col, value in edits:
        if not (0 <= row < len(rows) and 0 <= col < len(ver.content["columns"])):
            raise WorkflowError(f"Ô ({row}, {col}) không tồn tại.", "bad_cell")
        old = rows[row][col]
        if old == value:
            continue
        rows[row][col] = value
        session.add(SignatureChange(document_id=doc.id, version=ver.version, action="edit",
                                    location=f"rows[{row}][{col}]", old_value=old, new_value=value,
                                    reason=reason[:500], changed_by=user.id))
    ver.content = {**ver.content, "rows": rows}
    audit(session, user, "signature.edit", f"signature_document:{doc.id}", {"version": ver.version,
                                                                           "cells": len(edits)})
    return ver


def _slots(doc: SignatureDocument, session: Session) -> list[SignatureSlot]:
    if doc.kind == "attendance":
        creator = session.get(User, doc.created_by)
        return [SignatureSlot("GiaoVien", "Giáo viên", creator.full_name if creator else "")]
    return [SignatureSlot("HieuTruong", "Hiệu trưởng"), SignatureSlot("NhaTruong", "Nhà trường")]


def _render(session: Session, doc: SignatureDocument, ver: SignatureVersion, settings: SignatureSettings,
            extra_lines: list[str]) -> None:
    now = utcnow()
    pdf = render_pdf(SignableDocument(
        doc_id=doc.id, version=ver.version, title=doc.title, authority=settings.authority_name,
        school_name=doc.school_name, place_date=f"{settings.place_name}, ngày {now:%d} tháng {now.month} năm {now:%Y}",
        info_lines=[*ver.content["info_lines"], *extra_lines], columns=ver.content["columns"],
        rows=ver.content["rows"], verify_url=f"{settings.public_base_url.rstrip('/')}/signature/d/{doc.id}",
        slots=_slots(doc, session)))
    ver.pdf, ver.pdf_sha256 = pdf, hashlib.sha256(pdf).hexdigest()


@dataclass(frozen=True)
class DocumentSource:
    """Where a kind of document's table comes from (e.g. `attendance_source`: the finalised marks).

    Registered by the application for its kind (central_server/app.py: `register_source`), so that this file
    never imports the modules that feed it."""

    ensure_current: Callable[[Session, dict], None]   # raises SignatureFailure ("stale") if the source changed
    state: Callable[[Session, dict], dict | None]     # what the document's page shows about its source


_SOURCES: dict[str, DocumentSource] = {}


def register_source(kind: str, source: DocumentSource) -> None:
    _SOURCES[kind] = source


def _source_of(doc: SignatureDocument, content: dict) -> DocumentSource | None:
    if "source" not in content:
        return None
    source = _SOURCES.get(doc.kind)
    if source is None:  # a table built from a source nobody registered could not be checked: never sign it
        raise LookupError(f"no document source registered for {doc.kind!r} documents (central_server/app.py)")
    return source


def source_state(session: Session, doc: SignatureDocument, content: dict) -> dict | None:
    """For the pages: where the table came from and whether its source changed since (None: typed by hand)."""
    source = _source_of(doc, content)
    return source.state(session, content) if source else None


def _ensure_source_current(session: Session, doc: SignatureDocument, ver: SignatureVersion) -> None:
    """A table built from another module (e.g. the attendance marks) must still match its source."""
    source = _source_of(doc, ver.content)
    if source is not None:
        source.ensure_current(session, ver.content)


def lock(session: Session, user: User, doc_id: str, settings: SignatureSettings) -> SignatureVersion:
    doc, ver = load(session, user, doc_id)
    if ver.status != "draft":
        raise WorkflowError("Tài liệu đã được khoá.", "out_of_order")
    access.check_editor(user, doc, ver, "khoá")
    _ensure_source_current(session, doc, ver)
    ver.status, ver.locked_at = "locked", utcnow()
    if doc.kind == "attendance":
        _render(session, doc, ver, settings, [])
    audit(session, user, "signature.lock", f"signature_document:{doc.id}", {"version": ver.version})
    return ver


def verify_record(session: Session, user: User, doc_id: str, settings: SignatureSettings) -> SignatureVersion:
    """The homeroom teacher confirms the locked record; the PDF to be signed is rendered now."""
    doc, ver = load(session, user, doc_id)
    access.check_homeroom(session, user, ver.content)
    if doc.kind != "record" or ver.status != "locked":
        raise WorkflowError("Chỉ kiểm tra được hồ sơ đã khoá và chưa kiểm tra.", "out_of_order")
    ver.status, ver.verified_by, ver.verified_at = "verified", user.id, utcnow()
    _render(session, doc, ver, settings, [f"Giáo viên chủ nhiệm đã kiểm tra: {user.full_name}, "
                                          f"{ver.verified_at:%d/%m/%Y %H:%M} (UTC)."])
    audit(session, user, "signature.verify_record", f"signature_document:{doc.id}", {"version": ver.version})
    return ver


def sign(session: Session, user: User, doc_id: str, field: str, source: SignerSource,
         settings: SignatureSettings, level: str | None = None) -> SignatureApplied:
    """Apply the signature of step ``field`` to the current version (row-locked while signing)."""
    if field not in SIGN_STEPS:
        raise WorkflowError(f"Không có bước ký '{field}'.", "bad_field")
    kind, before, after, roles, label = SIGN_STEPS[field]
    doc, _ = load(session, user, doc_id)
    ver = current_version(session, doc, for_update=True)
    if doc.kind != kind or ver.status != before:
        raise WorkflowError(f"Chưa đến bước ký '{label}' (trạng thái hiện tại: "
                            f"{STATUS_LABELS.get(ver.status, ver.status)}).", "out_of_order")
    if user.role not in roles or (field == "GiaoVien" and user.id != doc.created_by):
        raise WorkflowError(f"Bạn không có quyền ký ở ô '{label}'.", "forbidden")
    _ensure_source_current(session, doc, ver)
    offered: list[dict] = []  # the certificate the key source presented (for the audit)
    level = level or settings.default_level
    opts = SignOptions(field_name=field, trust_roots=settings.load_trust_roots(), level=level,
                       tsa_url=settings.effective_tsa_url(), reason=f"{label} ký xác nhận",
                       location=settings.place_name, signer_title=label, online_revocation=settings.online_revocation,
                       accept_certificate=_recording(check_holder(field, user.full_name, doc.school_name), offered))
    try:
        signed = sign_pdf(ver.pdf, source, opts)
    except SignatureFailure as exc:
        audit(session, user, "signature.sign", f"signature_document:{doc.id}",
              {"field": field, "code": exc.code, **({"certificate": offered[0]} if offered else {})},
              outcome="refused")
        session.commit()
        raise
    report = verify_pdf(signed, opts.trust_roots, online=False)
    mine = report.signatures[-1]
    ver.pdf, ver.pdf_sha256, ver.status = signed, hashlib.sha256(signed).hexdigest(), after
    applied = SignatureApplied(version_id=ver.id, field_name=field, signer_cn=mine.signer[:200],
                               cert_serial=mine.serial, cert_issuer=mine.issuer[:400], method=source.kind,
                               level=level, timestamp=mine.timestamp, pdf_sha256=ver.pdf_sha256, signed_by=user.id)
    session.add(applied)
    audit(session, user, "signature.sign", f"signature_document:{doc.id}",
          {"field": field, "version": ver.version, "serial": mine.serial, "method": source.kind,
           "certificate": offered[0] if offered else {"serial": mine.serial, "subject": mine.signer_subject}})
    return applied


def _recording(check, offered: list[dict]):
    """`check`, noting first which certificate was offered (serial, subject, issuer, SPKI fingerprint)."""
    def accept(cert) -> None:
        offered.append(describe(cert))
        check(cert)
    return accept


def unlock(session: Session, user: User, doc_id: str, reason: str) -> SignatureVersion:
    """Admin unlock: a new draft version; the old one (and its signed PDF) is kept, marked superseded."""
    access.check_unlocker(user)
    if not reason.strip():
        raise WorkflowError("Cần ghi lý do mở khoá.", "no_reason")
    doc, ver = load(session, user, doc_id)
    if ver.status == "draft":
        raise WorkflowError("Tài liệu đang ở trạng thái nhập, không cần mở khoá.", "out_of_order")
    old_status = ver.status
    ver.superseded_at = utcnow()
    if old_status != "completed":
        ver.status = "superseded"
    new = SignatureVersion(document_id=doc.id, version=ver.version + 1, status="draft", content=dict(ver.content),
                           created_by=user.id)
    doc.current_version = new.version
    session.add(new)
    session.add(SignatureChange(document_id=doc.id, version=new.version, action="unlock", location="status",
                                old_value=f"v{ver.version}:{old_status}", new_value=f"v{new.version}:draft",
                                reason=reason[:500], changed_by=user.id))
    audit(session, user, "signature.unlock", f"signature_document:{doc.id}",
          {"from_version": ver.version, "to_version": new.version, "reason": reason[:200]})
    return new


def changes(session: Session, doc_id: str) -> list[SignatureChange]:
    return list(session.scalars(select(SignatureChange).where(SignatureChange.document_id == doc_id)
                                .order_by(SignatureChange.id)))


def find_registered(session: Session, pdf: bytes) -> SignatureVersion | None:
    """The registered version whose stored PDF is exactly this file (a copy issued by the system)."""
    digest = hashlib.sha256(pdf).hexdigest()
    return session.scalars(select(SignatureVersion).where(SignatureVersion.pdf_sha256 == digest)).first()


def document_out(session: Session, doc: SignatureDocument, settings: SignatureSettings) -> DocumentOut:
    """The document with every version and its signatures, as the API answers it."""
    vers = versions(session, doc.id)
    out = []
    for v in vers:
        sigs = session.scalars(select(SignatureApplied).where(SignatureApplied.version_id == v.id)
                               .order_by(SignatureApplied.id))
        item = VersionOut.model_validate(v)
        item.signatures = [SignedOut.model_validate(s) for s in sigs]
        out.append(item)
    current = next(v for v in vers if v.version == doc.current_version)
    return DocumentOut(id=doc.id, kind=doc.kind, title=doc.title, school_name=doc.school_name,
                       current_version=doc.current_version, status=current.status, content=current.content,
                       versions=out, verify_url=f"{settings.public_base_url.rstrip('/')}/signature/d/{doc.id}")
