"""Library logic (no HTTP): items, uploads, the appraisal workflow, visibility and usage statistics."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.db import utcnow
from central_server.core.tables import User
from central_server.masterdata.tables import School

from .access import PROVINCE, can_edit
from .filetypes import Limits
from .schemas import ItemIn
from .search import SearchQuery, index_item, unindex_item
from .storage import BlobStore
from .tables import LibraryFile, LibraryItem, LibraryReview, LibrarySearch, LibraryUsage
from .uploads import StagedFile
from .workflow import EDITABLE, WorkflowError, next_status


class NotAllowed(PermissionError):
    pass


def limits_from(settings, max_bytes: int | None = None) -> Limits:
    return Limits(max_bytes or settings.max_upload_bytes, settings.max_unzipped_bytes,
                  settings.max_zip_entries, settings.max_zip_ratio)


def school_name_for(session: Session, school_id: int | None) -> str:
    """The school's name from the master data when that module is installed, else a placeholder."""
    if school_id is None:
        return "Sở Giáo dục và Đào tạo"
    try:
        with session.begin_nested():  # a missing table must not abort the caller's PostgreSQL transaction
            school = session.get(School, school_id)
        if school is not None:
            return str(getattr(school, "name", "") or f"Trường #{school_id}")
    except (AttributeError, SQLAlchemyError):
        pass
    return f"Trường #{school_id}"


def create_item(session: Session, data: ItemIn, user: User) -> LibraryItem:
    item = LibraryItem(**data.model_dump(), status="draft", created_by=user.id, school_id=user.school_id,
                       school_name=school_name_for(session, user.school_id))
    session.add(item)
    session.flush()
    index_item(session, item)
    audit(session, user, "library.item.create", f"library_item:{item.id}", {"title": item.title[:100]})
    return item


def update_item(session: Session, item: LibraryItem, data: ItemIn, user: User) -> LibraryItem:
    if not can_edit(item, user):
        raise NotAllowed("Bạn không được sửa học liệu này")
    if item.status not in EDITABLE:
        raise WorkflowError("Chỉ sửa được học liệu ở trạng thái bản nháp")
    for key, value in data.model_dump().items():
        setattr(item, key, value)
    item.updated_at = utcnow()
    index_item(session, item)
    audit(session, user, "library.item.update", f"library_item:{item.id}")
    return item


def apply_action(session: Session, item: LibraryItem, action: str, comment: str, user: User) -> LibraryItem:
    """Move the item through the appraisal workflow; the reviewer is named and may not appraise their own item."""
    if action == "submit" and not can_edit(item, user):
        raise NotAllowed("Bạn không được gửi thẩm định học liệu này")
    target = next_status(item.status, action, {user.role}, comment)
    if action == "submit" and item.kind == "material" and not item.file_sha256:
        raise WorkflowError("Cần tải tệp học liệu lên trước khi gửi thẩm định")
    if action in ("approve", "return") and user.id in (item.created_by, item.submitted_by):
        raise WorkflowError("Người thẩm định không được là người tạo hoặc gửi học liệu")
    now = utcnow()
    source = item.status
    item.status, item.updated_at = target, now
    name = user.full_name or user.username
    if action == "submit":
        item.submitted_by = user.id
    elif action in ("approve", "return"):
        item.reviewer_id, item.reviewer_name, item.review_comment, item.reviewed_at = user.id, name, comment, now
    elif action == "publish":
        item.published_at, item.withdrawn_at, item.withdrawal_reason = now, None, ""
    elif action == "withdraw":
        item.withdrawn_at, item.withdrawal_reason = now, comment
    session.add(LibraryReview(item_id=item.id, action=action, from_status=source, to_status=target,
                              actor_id=user.id, actor_name=name, comment=comment))
    index_item(session, item)  # the status is a search facet
    audit(session, user, f"library.item.{action}", f"library_item:{item.id}", {"from": source, "to": target})
    return item


def apply_import_publication(session: Session, item: LibraryItem, user: User) -> None:
    """Catalogue titles imported from a school library's MARC file by province staff are published at once;
    the import itself is recorded as the appraisal (named reviewer, comment)."""
    if user.role not in PROVINCE:
        raise NotAllowed("Chỉ cán bộ Sở được xuất bản ngay khi nhập MARC")
    now = utcnow()
    name = user.full_name or user.username
    item.status, item.updated_at, item.published_at = "published", now, now
    item.reviewer_id, item.reviewer_name, item.reviewed_at = user.id, name, now
    item.review_comment = "Nhập từ biên mục MARC 21 của thư viện trường"
    session.add(LibraryReview(item_id=item.id, action="import", from_status="draft", to_status="published",
                              actor_id=user.id, actor_name=name, comment=item.review_comment))
    index_item(session, item)


def delete_draft(session: Session, item: LibraryItem, user: User) -> None:
    if not can_edit(item, user):
        raise NotAllowed("Bạn không được xoá học liệu này")
    if item.status != "draft" or item.published_at is not None:
        raise WorkflowError("Chỉ xoá được bản nháp chưa từng xuất bản; học liệu đã xuất bản thì thu hồi")
    unindex_item(session, item.id)
    audit(session, user, "library.item.delete", f"library_item:{item.id}", {"title": item.title[:100]})
    session.delete(item)


def attach_file(session: Session, store: BlobStore, item: LibraryItem, staged: StagedFile, user: User) -> LibraryFile:
    """Store the staged file and attach it to a draft, all or nothing (a new blob is removed if the commit fails)."""
    if not can_edit(item, user):
        staged.discard()
        raise NotAllowed("Bạn không được tải tệp cho học liệu này")
    if item.status not in EDITABLE:
        staged.discard()
        raise WorkflowError("Chỉ tải tệp cho học liệu ở trạng thái bản nháp")
    is_new = store.put_file(staged.path, staged.sha256)
    try:
        row = session.get(LibraryFile, staged.sha256)
        if row is None:
            row = LibraryFile(sha256=staged.sha256, size=staged.size, mime=staged.kind.mime, ext=staged.kind.ext,
                              original_name=staged.filename, ingest_state="queued")
            session.add(row)
            session.flush()
        item.file_sha256 = row.sha256
        item.updated_at = utcnow()
        index_item(session, item)
        audit(session, user, "library.file.upload", f"library_item:{item.id}",
              {"sha256": row.sha256, "size": row.size, "mime": row.mime})
        session.commit()
        return row
    except BaseException:
        session.rollback()
        if is_new and session.get(LibraryFile, staged.sha256) is None:
            store.delete(staged.sha256)
        raise


def record_usage(session: Session, item: LibraryItem, kind: str) -> None:
    session.add(LibraryUsage(item_id=item.id, kind=kind, school_id=item.school_id))


SEARCH_FIELDS = ("q", "subject", "grade", "material_type", "language", "school_id", "kind", "title", "author",
                 "keyword", "year")


def record_search(session: Session, query: SearchQuery, user: User | None, via: str, results: int) -> bool:
    """Count a search (for the IOC's library tiles) when something was searched for: a query or a field, on its
    first page (turning pages is the same search; a bare listing is browsing). The words are not kept."""
    fields = [f for f in SEARCH_FIELDS if getattr(query, f) not in (None, "")]
    if not fields or query.page != 1:
        return False
    session.add(LibrarySearch(via=via, school_id=user.school_id if user else None, fields=",".join(fields),
                              results=results))
    return True


def usage_by_item(session: Session, limit: int = 50) -> list[dict]:
    views = func.sum(case((LibraryUsage.kind == "view", 1), else_=0))
    downloads = func.sum(case((LibraryUsage.kind == "download", 1), else_=0))
    rows = session.execute(
        select(LibraryItem.id, LibraryItem.title, LibraryItem.school_name, views.label("views"),
               downloads.label("downloads"))
        .join(LibraryUsage, LibraryUsage.item_id == LibraryItem.id)
        .group_by(LibraryItem.id, LibraryItem.title, LibraryItem.school_name)
        .order_by((views + downloads).desc(), LibraryItem.id).limit(limit)
    ).all()
    return [dict(r._mapping) for r in rows]


def usage_by_school(session: Session) -> list[dict]:
    views = func.sum(case((LibraryUsage.kind == "view", 1), else_=0))
    downloads = func.sum(case((LibraryUsage.kind == "download", 1), else_=0))
    items = func.count(func.distinct(LibraryUsage.item_id))
    rows = session.execute(
        select(LibraryItem.school_id, LibraryItem.school_name, items.label("items"), views.label("views"),
               downloads.label("downloads"))
        .join(LibraryUsage, LibraryUsage.item_id == LibraryItem.id)
        .group_by(LibraryItem.school_id, LibraryItem.school_name)
        .order_by((views + downloads).desc())
    ).all()
    return [dict(r._mapping) for r in rows]


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(LibraryItem.status, func.count()).group_by(LibraryItem.status)).all()
    return {status: n for status, n in rows}
