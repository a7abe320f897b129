"""The import workflow for every MOET export: store an uploaded file as a batch with its preview; apply it.

Students are applied all or nothing; teachers row by row (invalid rows skipped): `Importer.all_or_nothing`.
"""

from __future__ import annotations

import hashlib

from fastapi import HTTPException, UploadFile
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.clock import local_today
from central_server.core.db import utcnow
from central_server.core.tables import User

from . import moet_import, moet_students, moet_teachers
from .access import can_manage_school
from .service import province_code_on
from .tables import ImportBatch, School

XLSX_TYPES = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream",
              "application/zip", ""}
IMPORTERS: dict[str, moet_import.Importer] = {i.kind: i for i in (moet_students.IMPORTER, moet_teachers.IMPORTER)}


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
                 ip: str = "", kind: str = "students") -> tuple[ImportBatch, list[moet_import.PreviewRow]]:
    """Parse and preview `data` (nothing but the batch is written); 403 / 422 with a Vietnamese message."""
    importer = IMPORTERS[kind]
    if not can_manage_school(user, school.id):
        raise HTTPException(403, "Bạn không có quyền nhập dữ liệu cho trường này.")
    try:
        rows = moet_import.parse_workbook(data, importer.template)
    except moet_import.ImportFileError as exc:
        audit(session, user, "masterdata.import_rejected", f"school:{school.id}", {"kind": kind, "reason": str(exc)},
              ip=ip, outcome="denied")
        session.commit()
        raise HTTPException(exc.status, str(exc)) from None
    result = importer.preview(session, school, school_year, rows, user)
    summary = moet_import.summarise(result)
    batch = ImportBatch(school_id=school.id, school_year=school_year, kind=kind, uploaded_by=user.id,
                        filename=(filename or "upload.xlsx")[:255], sha256=hashlib.sha256(data).hexdigest(),
                        content=data, summary=summary)
    session.add(batch)
    session.flush()
    audit(session, user, "masterdata.import_preview", f"import:{batch.id}",
          {"school_id": school.id, "kind": kind, **summary}, ip=ip)
    session.commit()
    return batch, result


def apply_batch(session: Session, user: User, batch: ImportBatch, ip: str = "") -> dict[str, int]:
    """Write the batch's valid rows against the database as it is now (the preview is computed again)."""
    if not can_manage_school(user, batch.school_id):
        raise HTTPException(403, "Bạn không có quyền nhập dữ liệu cho trường này.")
    if batch.status == "applied":
        raise HTTPException(409, "Tệp này đã được nhập.")
    importer = IMPORTERS[batch.kind]
    school = session.get(School, batch.school_id)
    rows = moet_import.parse_workbook(batch.content, importer.template)
    result = importer.preview(session, school, batch.school_year, rows, user)
    invalid = sum(1 for p in result if p.kind == "invalid")
    if invalid and (importer.all_or_nothing or invalid == len(result)):
        session.rollback()
        reason = "Tệp còn dòng không hợp lệ" if importer.all_or_nothing else "Tệp không có dòng hợp lệ nào"
        raise HTTPException(422, f"{reason}; hãy sửa tệp và tải lên lại. Chưa có dữ liệu nào được ghi.")
    today = local_today()
    province = province_code_on(session, today, school.former_province_code or school.province_code)
    try:
        counts = importer.apply(session, school, batch.school_year, rows, result, today=today,
                                province_code=province)
    except IntegrityError:
        session.rollback()  # another import wrote the same people meanwhile
        raise HTTPException(409, "Dữ liệu vừa được thay đổi bởi một lượt nhập khác; hãy tải tệp lên lại. "
                                 "Chưa có dữ liệu nào được ghi.") from None
    batch.status, batch.applied_at, batch.summary = "applied", utcnow(), counts
    audit(session, user, "masterdata.import_apply", f"import:{batch.id}", {"kind": batch.kind, **counts}, ip=ip)
    session.commit()
    return counts
