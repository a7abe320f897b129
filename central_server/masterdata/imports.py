"""The import workflow: store an uploaded file as a batch with its preview; apply it all or nothing."""

from __future__ import annotations

import hashlib

from fastapi import HTTPException, UploadFile
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.db import utcnow
from central_server.core.tables import User

from . import moet_import
from .access import can_manage_school
from .service import province_code_on
from .tables import ImportBatch, School

XLSX_TYPES = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream",
              "application/zip", ""}


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, or 413 as soon as it grows past `limit` (nothing is stored)."""
    chunks, size = [], 0
    while chunk := await upload.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"Tệp vượt quá giới hạn {limit // 1024} KB.")
        chunks.append(chunk)
    return b"".join(chunks)


def create_batch(session: Session, user: User, school: School, school_year: str, filename: str, data: bytes,
                 ip: str = "") -> tuple[ImportBatch, list[moet_import.PreviewRow]]:
    if not can_manage_school(user, school.id):
        raise HTTPException(403, "Bạn không có quyền nhập dữ liệu cho trường này.")
    try:
        rows = moet_import.parse_workbook(data)
    except moet_import.ImportFileError as exc:
        audit(session, user, "masterdata.import_rejected", f"school:{school.id}", {"reason": str(exc)}, ip=ip,
              outcome="denied")
        session.commit()
        raise HTTPException(422, str(exc)) from None
    result = moet_import.preview(session, school, school_year, rows)
    summary = moet_import.summarise(result)
    batch = ImportBatch(school_id=school.id, school_year=school_year, uploaded_by=user.id,
                        filename=(filename or "upload.xlsx")[:255], sha256=hashlib.sha256(data).hexdigest(),
                        content=data, summary=summary)
    session.add(batch)
    session.flush()
    audit(session, user, "masterdata.import_preview", f"import:{batch.id}", {"school_id": school.id, **summary},
          ip=ip)
    session.commit()
    return batch, result


def apply_batch(session: Session, user: User, batch: ImportBatch, ip: str = "") -> dict[str, int]:
    if not can_manage_school(user, batch.school_id):
        raise HTTPException(403, "Bạn không có quyền nhập dữ liệu cho trường này.")
    if batch.status == "applied":
        raise HTTPException(409, "Tệp này đã được nhập.")
    school = session.get(School, batch.school_id)
    rows = moet_import.parse_workbook(batch.content)
    today = utcnow().date()
    try:
        counts = moet_import.apply(session, school, batch.school_year, rows, today,
                                   province_code_on(session, today, school.former_province_code or
                                                    school.province_code))
    except ValueError:
        session.rollback()
        raise HTTPException(422, "Tệp còn dòng không hợp lệ; hãy sửa tệp và tải lên lại. Chưa có dữ liệu nào "
                                 "được ghi.") from None
    batch.status, batch.applied_at, batch.summary = "applied", utcnow(), counts
    audit(session, user, "masterdata.import_apply", f"import:{batch.id}", counts, ip=ip)
    session.commit()
    return counts
