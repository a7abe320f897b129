"""Master-data pages: the import of the MOET student and teacher exports (`/masterdata/import`), with preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse

from central_server.core.audit import audit
from central_server.core.auth import client_ip
from central_server.core.clock import local_today
from central_server.core.params import RowId as Id
from central_server.core.tables import User
from central_server.core.templating import templates
from central_server.core.uploads import off_loop

from . import access, imports, service
from .deps import DbSession, Manager, current_year, school_year_param
from .tables import ImportBatch, School

router = APIRouter()


@router.get("/masterdata/import", response_class=HTMLResponse, include_in_schema=False)
def import_page(request: Request, user: Manager, session: DbSession):
    schools = service.list_schools(session, user)
    audit(session, user, "school.list", "schools", {"page": "import"}, ip=client_ip(request))
    session.commit()
    year = service.school_year_of(local_today(request.app.state.settings.timezone))
    return templates.TemplateResponse(request, "masterdata/import.html",
                                      {"user": user, "schools": schools, "year": year})


@router.post("/masterdata/import", response_class=HTMLResponse, include_in_schema=False)
async def import_upload(request: Request, user: Manager, session: DbSession, file: Annotated[UploadFile, File()],
                        school_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
                        school_year: Annotated[str, Form(max_length=9)]):
    year = school_year_param(school_year)
    school = access.get_school(session, user, school_id)
    data = await imports.read_limited(file, request.app.state.settings.max_upload_bytes)
    batch, rows = await off_loop(imports.create_batch, session, user, school, year, file.filename or "", data,
                                 client_ip(request))
    return _preview_page(request, user, batch, school, rows)


@router.post("/masterdata/import/teachers", response_class=HTMLResponse, include_in_schema=False)
async def teacher_import_upload(request: Request, user: Manager, session: DbSession,
                                file: Annotated[UploadFile, File()],
                                school_id: Annotated[int, Form(ge=1, le=2**31 - 1)]):
    school = access.get_school(session, user, school_id)
    data = await imports.read_limited(file, request.app.state.settings.max_upload_bytes)
    batch, rows = await off_loop(imports.create_batch, session, user, school, current_year(request),
                                 file.filename or "", data, client_ip(request), kind="teachers")
    return _preview_page(request, user, batch, school, rows)


def _preview_page(request: Request, user: User, batch: ImportBatch, school: School, rows: list):
    importer = imports.IMPORTERS[batch.kind]
    return templates.TemplateResponse(request, "masterdata/preview.html", {
        "user": user, "batch": batch, "school": school, "rows": rows, "all_or_nothing": importer.all_or_nothing,
        "labels": importer.template.labels})


@router.post("/masterdata/import/{batch_id}/apply", response_class=HTMLResponse, include_in_schema=False)
def import_apply_page(request: Request, batch_id: Id, user: Manager, session: DbSession):
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise HTTPException(404, "Không tìm thấy lượt nhập.")
    counts = imports.apply_batch(session, user, batch, client_ip(request))
    return templates.TemplateResponse(request, "masterdata/applied.html",
                                      {"user": user, "batch": batch, "counts": counts})
