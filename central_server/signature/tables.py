"""Signature module tables: signable documents, their versions (with the PDF as signed so far),
the signatures applied, and the change log of record edits and admin unlocks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow


class SignatureDocument(Base):
    __tablename__ = "signature_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID, printed in the QR code
    kind: Mapped[str] = mapped_column(String(32))  # attendance | record
    school_id: Mapped[int | None] = mapped_column(Integer, index=True)
    school_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignatureVersion(Base):
    __tablename__ = "signature_versions"
    __table_args__ = (UniqueConstraint("document_id", "version", name="uq_signature_versions_document_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("signature_documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))  # draft|locked|verified|principal_signed|completed|superseded
    content: Mapped[dict] = mapped_column(JSON)  # info_lines, columns, rows
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SignatureApplied(Base):
    __tablename__ = "signature_applied"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("signature_versions.id"), index=True)
    field_name: Mapped[str] = mapped_column(String(64))
    signer_cn: Mapped[str] = mapped_column(String(200))
    cert_serial: Mapped[str] = mapped_column(String(80))
    cert_issuer: Mapped[str] = mapped_column(String(400))
    method: Mapped[str] = mapped_column(String(16))  # pkcs12 | pkcs11 | remote
    level: Mapped[str] = mapped_column(String(8))
    timestamp: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pdf_sha256: Mapped[str] = mapped_column(String(64))  # the file right after this signature
    signed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignatureChange(Base):
    __tablename__ = "signature_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("signature_documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # edit | unlock
    location: Mapped[str] = mapped_column(String(64))  # "rows[2][3]" or "status"
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    changed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
