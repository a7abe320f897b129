"""Library HTTP API (JSON, /api/library) and the OAI-PMH endpoint (/library/oai); pages live in pages.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from central_server.core.csrf import csrf_exempt
from central_server.core.params import RowId
from central_server.core.templating import add_nav
from central_server.core.uploads import FORM_OVERHEAD, register_body_limit

from . import marc, service
from .access import can_list_status
from .deps import DbSession, MaybeUser, Runtime, Staff, load_item, require_province
from .filetypes import UploadError
from .oai_pmh import respond
from .pages import router as pages_router
from .runtime import configure
from .schemas import ActionIn, FileOut, ItemIn, ItemOut, MarcImportOut, SearchOut
from .search import SearchQuery, index_item, search
from .storage import BlobNotFound
from .tables import LibraryFile, LibraryItem
from .uploads import stage
from .workflow import WorkflowError

router = APIRouter(tags=["library"])
api = APIRouter(prefix="/api/library")


def setup(app: FastAPI) -> None:
    configure(app)
    # file uploads may be as large as the library allows (videos); every other body keeps the app's limit
    for path in (r"/api/library/items/\d+/file", r"/library/items/\d+/upload", r"/library/manage"):
        register_body_limit(app, path, _file_body_limit)
    register_body_limit(app, r"/api/library/marc/import", marc.MAX_IMPORT_BYTES + FORM_OVERHEAD)


def _file_body_limit(app: FastAPI) -> int:
    return app.state.library.settings.max_upload_bytes + FORM_OVERHEAD
    add_nav("/library", "Thư viện số")
    add_nav("/library/manage", "Học liệu của tôi", ("teacher", "school_admin", "province_staff", "province_admin"))
    add_nav("/library/review", "Thẩm định", ("province_staff", "province_admin"))
    add_nav("/library/stats", "Thống kê thư viện", ("province_staff", "province_admin"))


def _fail(exc: Exception) -> HTTPException:
    if isinstance(exc, UploadError):
        return HTTPException(exc.status_code, str(exc))
    if isinstance(exc, service.NotAllowed):
        return HTTPException(403, str(exc))
    return HTTPException(409 if isinstance(exc, WorkflowError) else 422, str(exc))


@api.get("/items", response_model=SearchOut)
def list_items(session: DbSession, user: MaybeUser, q: str = "", subject: str | None = None,
               grade: int | None = None, type: str | None = None, language: str | None = None,
               school: int | None = None, kind: str | None = None, status: str | None = None,
               title: Annotated[str, Query(max_length=300)] = "", author: Annotated[str, Query(max_length=300)] = "",
               keyword: Annotated[str, Query(max_length=300)] = "",
               year: Annotated[int | None, Query(ge=1000, le=9999)] = None,
               page: Annotated[int, Query(ge=1, le=10_000)] = 1, per_page: Annotated[int, Query(ge=1, le=100)] = 20):
    """Full-text `q` over every field, plus field search: every word of `title` in the title, of `author`
    in the authors/contributors, of `keyword` in the subject headings/keywords, and the year of publication."""
    statuses = ("published",)
    if status and status != "published":
        if not can_list_status(user, status):
            raise HTTPException(403, "Chỉ cán bộ Sở xem được học liệu chưa xuất bản.")
        statuses = (status,)
    query = SearchQuery(q=q[:300], subject=subject, grade=grade, material_type=type, language=language,
                        school_id=school, kind=kind, statuses=statuses, title=title, author=author, keyword=keyword,
                        year=year, page=page, per_page=per_page)
    result = search(session, query)
    if service.record_search(session, query, user, "api", result.total):
        session.commit()
    items = [session.get(LibraryItem, i) for i in result.ids]
    return SearchOut(items=[ItemOut.model_validate(i) for i in items], total=result.total, page=result.page,
                     per_page=result.per_page, pages=result.pages)


@api.post("/items", response_model=ItemOut, status_code=201)
def create_item(data: ItemIn, session: DbSession, user: Staff):
    item = service.create_item(session, data, user)
    session.commit()
    return item


@api.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: RowId, session: DbSession, user: MaybeUser):
    return load_item(session, item_id, user)


@api.put("/items/{item_id}", response_model=ItemOut)
def update_item(item_id: RowId, data: ItemIn, session: DbSession, user: Staff):
    item = load_item(session, item_id, user)
    try:
        service.update_item(session, item, data, user)
    except (WorkflowError, service.NotAllowed) as exc:
        raise _fail(exc) from exc
    session.commit()
    return item


@api.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: RowId, session: DbSession, user: Staff):
    item = load_item(session, item_id, user)
    try:
        service.delete_draft(session, item, user)
    except (WorkflowError, service.NotAllowed) as exc:
        raise _fail(exc) from exc
    session.commit()
    return Response(status_code=204)


@api.post("/items/{item_id}/actions", response_model=ItemOut)
def item_action(item_id: RowId, data: ActionIn, session: DbSession, user: Staff):
    item = load_item(session, item_id, user)
    try:
        service.apply_action(session, item, data.action, data.comment.strip(), user)
    except (WorkflowError, service.NotAllowed) as exc:
        raise _fail(exc) from exc
    session.commit()
    return item


@api.post("/items/{item_id}/file", response_model=FileOut, status_code=201)
def upload_file(item_id: RowId, file: Annotated[UploadFile, File()], session: DbSession, user: Staff, rt: Runtime):
    item = load_item(session, item_id, user)
    try:
        staged = stage(rt.store, file.file, file.filename or "", service.limits_from(rt.settings))
        row = service.attach_file(session, rt.store, item, staged, user)
    except (UploadError, WorkflowError, service.NotAllowed) as exc:
        raise _fail(exc) from exc
    rt.files_queued()
    return row


@api.get("/items/{item_id}/download")
def download(item_id: RowId, session: DbSession, user: MaybeUser, rt: Runtime):
    item = load_item(session, item_id, user)
    row = session.get(LibraryFile, item.file_sha256) if item.file_sha256 else None
    if row is None or not rt.store.exists(row.sha256):
        raise HTTPException(404, "Học liệu này chưa có tệp.")
    service.record_usage(session, item, "download")
    session.commit()
    name = f"hoclieu-{item.id}.{row.ext}"
    return StreamingResponse(rt.store.iter_chunks(row.sha256), media_type=row.mime,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Content-Length": str(row.size), "X-Content-Type-Options": "nosniff"})


@api.get("/items/{item_id}/thumbnail")
def thumbnail(item_id: RowId, session: DbSession, user: MaybeUser, rt: Runtime):
    item = load_item(session, item_id, user)
    row = session.get(LibraryFile, item.file_sha256) if item.file_sha256 else None
    if row is None or not row.thumb_sha256:
        raise HTTPException(404, "Chưa có ảnh thu nhỏ.")
    try:
        return StreamingResponse(rt.store.iter_chunks(row.thumb_sha256), media_type="image/png")
    except BlobNotFound as exc:
        raise HTTPException(404, "Chưa có ảnh thu nhỏ.") from exc


@api.post("/marc/import", response_model=MarcImportOut, status_code=201)
def marc_import(file: Annotated[UploadFile, File()], session: DbSession, user: Staff,
                publish: Annotated[bool, Form()] = False):
    if publish:
        require_province(user)
    try:
        parsed = marc.parse(file.file.read(marc.MAX_IMPORT_BYTES + 1))
    except marc.MarcError as exc:
        raise HTTPException(422, str(exc)) from exc
    ids = []
    for title in parsed:
        item = service.create_item(session, _item_in(title.fields), user)
        item.marc_xml = title.marc_xml
        if publish:
            service.apply_import_publication(session, item, user)
        index_item(session, item)
        ids.append(item.id)
    session.commit()
    return MarcImportOut(imported=len(ids), item_ids=ids)


def _item_in(fields: dict) -> ItemIn:
    try:
        return ItemIn(**{k: v for k, v in fields.items() if v not in (None, "", [])} | {"copies": fields["copies"]})
    except ValueError as exc:
        raise HTTPException(422, f"Bản ghi MARC '{fields.get('title', '')[:80]}': {exc}") from exc


@api.get("/marc/export")
def marc_export(session: DbSession, user: Staff, format: str = "marcxml", status: str = "published"):
    if not can_list_status(user, status):
        raise HTTPException(403, "Chỉ cán bộ thẩm định/xuất bản của Sở được xuất bản ghi chưa xuất bản.")
    rows = list(session.scalars(select(LibraryItem).where(LibraryItem.kind == "title", LibraryItem.status == status)
                                .order_by(LibraryItem.id)))
    if format == "iso2709":
        return Response(marc.export_iso2709(rows), media_type="application/marc",
                        headers={"Content-Disposition": 'attachment; filename="thu-vien.mrc"'})
    if format != "marcxml":
        raise HTTPException(422, "format phải là marcxml hoặc iso2709")
    return Response(marc.export_xml(rows), media_type="application/marcxml+xml",
                    headers={"Content-Disposition": 'attachment; filename="thu-vien.xml"'})


@api.get("/stats")
def stats(session: DbSession, user: Staff):
    require_province(user)
    return {"by_item": service.usage_by_item(session), "by_school": service.usage_by_school(session),
            "by_status": service.status_counts(session)}


@router.api_route("/library/oai", methods=["GET", "POST"], include_in_schema=False)
@csrf_exempt  # read-only harvesting protocol: OAI-PMH 2.0 lets any harvester POST its arguments
async def oai(request: Request, rt: Runtime):
    args = list(request.query_params.multi_items())
    if request.method == "POST":
        args = list((await request.form()).multi_items())
    body = await run_in_threadpool(_oai_respond, rt, [(k, str(v)) for k, v in args])
    return Response(body, media_type="text/xml; charset=utf-8")


def _oai_respond(rt, args: list[tuple[str, str]]) -> bytes:
    with rt.sessionmaker() as session:
        return respond(session, args, rt.oai_config())


router.include_router(api)
router.include_router(pages_router)
