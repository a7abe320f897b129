"""Library tables: items (learning materials and catalogue titles), stored files, appraisal history, usage,
and the search documents that the full-text index is built from (see search.py for the per-dialect index)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow

from . import search_ddl


class LibraryFile(Base):
    """A stored file, addressed by its sha256; the ingest queue is the rows whose ingest_state is 'queued'."""

    __tablename__ = "library_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(120))
    ext: Mapped[str] = mapped_column(String(16))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ingest_state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    ingest_attempts: Mapped[int] = mapped_column(Integer, default=0)
    ingest_error: Mapped[str] = mapped_column(Text, default="")
    ingested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thumb_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_library_files_queue", "ingest_state", "created_at"),)


class LibraryItem(Base):
    """One learning material or library title: Dublin Core's 15 elements plus education fields."""

    __tablename__ = "library_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="material")  # material | title
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # Dublin Core (dc:type, dc:format and dc:identifier are derived: material type, file, URL/ISBN)
    title: Mapped[str] = mapped_column(String(500))
    creators: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)  # dc:subject besides the school subject
    description: Mapped[str] = mapped_column(Text, default="")
    publisher: Mapped[str] = mapped_column(String(300), default="")
    contributors: Mapped[list[str]] = mapped_column(JSON, default=list)
    date_issued: Mapped[str] = mapped_column(String(32), default="")  # W3CDTF: YYYY, YYYY-MM or YYYY-MM-DD
    source: Mapped[str] = mapped_column(String(500), default="")
    relation: Mapped[str] = mapped_column(String(500), default="")
    coverage: Mapped[str] = mapped_column(String(300), default="")
    rights: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="vi")
    # education fields
    subject_code: Mapped[str] = mapped_column(String(32), default="khac")
    grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    topic: Mapped[str] = mapped_column(String(300), default="")
    material_type: Mapped[str] = mapped_column(String(32), default="tai-lieu-tham-khao")
    licence: Mapped[str] = mapped_column(String(32), default="all-rights-reserved")
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    school_name: Mapped[str] = mapped_column(String(200), default="")
    national_id: Mapped[str] = mapped_column(String(100), default="")
    national_url: Mapped[str] = mapped_column(String(500), default="")
    # catalogue fields for library titles (MARC 21)
    isbn: Mapped[str] = mapped_column(String(32), default="")
    ddc: Mapped[str] = mapped_column(String(32), default="")
    edition: Mapped[str] = mapped_column(String(100), default="")
    extent: Mapped[str] = mapped_column(String(200), default="")
    call_number: Mapped[str] = mapped_column(String(64), default="")
    copies: Mapped[int | None] = mapped_column(Integer, nullable=True)
    marc_xml: Mapped[str | None] = mapped_column(Text, nullable=True)  # the imported record, kept for fidelity
    # the file and the workflow
    file_sha256: Mapped[str | None] = mapped_column(ForeignKey("library_files.sha256"), nullable=True, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # the OAI-PMH datestamp
    submitted_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewer_name: Mapped[str] = mapped_column(String(200), default="")
    review_comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawal_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("kind IN ('material', 'title')", name="kind"),
        CheckConstraint(
            "status IN ('draft', 'submitted', 'appraised', 'published', 'withdrawn')", name="status"
        ),
        CheckConstraint("grade IS NULL OR grade BETWEEN 10 AND 12", name="grade"),
        Index("ix_library_items_harvest", "updated_at", "id"),
        Index("ix_library_items_subject_harvest", "subject_code", "updated_at", "id"),
        Index("ix_library_items_school_harvest", "school_id", "updated_at", "id"),
        Index("ix_library_items_status_updated", "status", "updated_at"),
    )

    @property
    def creators_list(self) -> list[str]:
        return list(self.creators or [])


class LibraryReview(Base):
    """Every workflow step: who, when, from which status to which, with the reviewer's comments."""

    __tablename__ = "library_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("library_items.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LibraryUsage(Base):
    """One view or download of an item (counted per item and per the item's school for the IOC)."""

    __tablename__ = "library_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("library_items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # view | download
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_library_usage_item_kind", "item_id", "kind"),)


class LibrarySearch(Base):
    """One search of the library (a query or a field filter, first page only), counted for the IOC. The words
    searched are not kept (what a student looks for is theirs): only when, where from, which fields, how many
    results, and the searcher's school when signed in."""

    __tablename__ = "library_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    via: Mapped[str] = mapped_column(String(8))  # page | api
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fields: Mapped[str] = mapped_column(String(120), default="")  # e.g. "q,subject"
    results: Mapped[int] = mapped_column(Integer, default=0)


class LibrarySearchDoc(Base):
    """Accent-folded text of an item (metadata + extracted file text); the dialect's full-text index is
    kept in step with it by the database itself (FTS5 triggers on SQLite, a generated tsvector on PostgreSQL)."""

    __tablename__ = "library_search_docs"

    item_id: Mapped[int] = mapped_column(ForeignKey("library_items.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    facets: Mapped[str] = mapped_column(Text, default="")  # filter tokens (status, subject, grade...), see search.py


search_ddl.attach(LibrarySearchDoc.__table__)
