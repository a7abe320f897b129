"""Vietnamese web pages: browse/search (students, teachers), upload and appraisal (staff), usage statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import or_, select

from central_server.core.templating import templates

from . import access, service
from . import browse as browse_extras
from .access import PROVINCE, own_items_filter
from .deps import DbSession, MaybeUser, Runtime, Staff, load_item, require_province
from .dublin_core import DC_LABELS, dc_elements
from .filetypes import ACCEPTED_LABEL, UploadError
from .schemas import ItemIn
from .search import SearchQuery
from .tables import LibraryFile, LibraryItem, LibraryReview
from .uploads import stage
from .vocab import GRADES, LANGUAGES, LICENCES, MATERIAL_TYPES, STATUSES, SUBJECTS
from .workflow import ACTION_LABELS, WorkflowError, allowed_actions

router = APIRouter(prefix="/library", include_in_schema=False)
VOCAB = dict(subjects=SUBJECTS, grades=GRADES, types=MATERIAL_TYPES, languages=LANGUAGES, licences=LICENCES,
             statuses=STATUSES, action_labels=ACTION_LABELS, accepted=ACCEPTED_LABEL)


def _render(request: Request, name: str, user, status_code: int = 200, **ctx) -> HTMLResponse:
    return templates.TemplateResponse(request, f"library/{name}", {"user": user, **VOCAB, **ctx},
                                      status_code=status_code)


def _split(value: str, sep: str) -> list[str]:
    return [v.strip() for v in (value or "").split(sep) if v.strip()]


@router.get("", response_class=HTMLResponse)
def browse(request: Request, session: DbSession, user: MaybeUser, q: str = "", subject: str = "", grade: str = "",
           type: str = "", language: str = "", school: str = "", title: str = "", author: str = "",
           keyword: str = "", year: str = "", sort: str = "relevance",
           page: Annotated[int, Query(ge=1, le=10_000)] = 1):
    year_n = int(year) if year.strip().isdigit() and len(year.strip()) == 4 else None
    query = SearchQuery(q=q[:300], subject=subject or None, grade=int(grade) if grade.isdigit() else None,
                        material_type=type or None, language=language or None,
                        school_id=int(school) if school.isdigit() else None, title=title[:300],
                        author=author[:300], keyword=keyword[:300], year=year_n, page=page, per_page=20)
    sort = sort if sort in browse_extras.SORTS else "relevance"
    result, items, facets = browse_extras.run(session, query, sort)  # the year is a field of the search index
    if service.record_search(session, query, user, "page", result.total):
        session.commit()
    schools = session.execute(select(LibraryItem.school_id, LibraryItem.school_name)
                              .where(LibraryItem.status == "published", LibraryItem.school_id.is_not(None))
                              .distinct().order_by(LibraryItem.school_name)).all()
    f = dict(subject=subject, grade=grade, type=type, language=language, school=school, title=title[:300],
             author=author[:300], keyword=keyword[:300], year=str(year_n) if year_n else "")
    fresh = browse_extras.newest(session) if not (q or any(f.values())) and page == 1 else []
    return _render(request, "browse.html", user, items=items, result=result, q=q, schools=schools, f=f, sort=sort,
                   sorts=browse_extras.SORTS, facets=facets, facet_labels=browse_extras.FACETS, fresh=fresh,
                   thumbs=browse_extras.thumbnails(session, items + fresh), url=browse_extras.browse_url)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: int, session: DbSession, user: MaybeUser, rt: Runtime, msg: str = ""):
    item = load_item(session, item_id, user)
    file = session.get(LibraryFile, item.file_sha256) if item.file_sha256 else None
    if item.status == "published":
        service.record_usage(session, item, "view")
        session.commit()
    history = session.scalars(select(LibraryReview).where(LibraryReview.item_id == item.id)
                              .order_by(LibraryReview.at, LibraryReview.id)).all()
    actions = allowed_actions(item.status, {user.role}) if user else []
    if user and not access.can_edit(item, user):
        actions = [a for a in actions if a != "submit"]
    if user and user.id in (item.created_by, item.submitted_by):  # nobody appraises their own item (service.py)
        actions = [a for a in actions if a not in ("approve", "return")]
    return _render(request, "item.html", user, item=item, file=file, history=history, actions=actions,
                   dc=dc_elements(item, file, rt.settings.base_url), dc_labels=DC_LABELS, msg=msg,
                   can_upload=bool(user and item.status == "draft" and access.can_edit(item, user)))


@router.post("/items/{item_id}/action")
def item_action(item_id: int, session: DbSession, user: Staff, action: Annotated[str, Form()],
                comment: Annotated[str, Form(max_length=5000)] = ""):
    item = load_item(session, item_id, user)
    try:
        service.apply_action(session, item, action, comment.strip(), user)
    except (WorkflowError, service.NotAllowed) as exc:
        raise HTTPException(409 if isinstance(exc, WorkflowError) else 403, str(exc)) from exc
    session.commit()
    return RedirectResponse(f"/library/items/{item.id}?msg=" + action, status_code=303)


@router.post("/items/{item_id}/upload")
def item_upload(request: Request, item_id: int, session: DbSession, user: Staff, rt: Runtime, file: UploadFile):
    item = load_item(session, item_id, user)
    try:
        staged = stage(rt.store, file.file, file.filename or "", service.limits_from(rt.settings))
        service.attach_file(session, rt.store, item, staged, user)
    except (UploadError, WorkflowError, service.NotAllowed) as exc:
        code = exc.status_code if isinstance(exc, UploadError) else 409
        return _render(request, "error.html", user, status_code=code, message=str(exc),
                       back=f"/library/items/{item_id}")
    rt.files_queued()
    return RedirectResponse(f"/library/items/{item.id}?msg=upload", status_code=303)


def _my_items(session, user):
    stmt = select(LibraryItem).order_by(LibraryItem.updated_at.desc()).limit(200)
    own = own_items_filter(user)
    if own is not None:
        stmt = stmt.where(own)
    return session.scalars(stmt).all()


@router.get("/manage", response_class=HTMLResponse)
def manage(request: Request, session: DbSession, user: Staff):
    return _render(request, "manage.html", user, items=_my_items(session, user), errors=[], form={})


@router.post("/manage", response_class=HTMLResponse)
def manage_create(request: Request, session: DbSession, user: Staff, rt: Runtime,
                  title: Annotated[str, Form()] = "", creators: Annotated[str, Form()] = "",
                  keywords: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                  subject_code: Annotated[str, Form()] = "", grade: Annotated[str, Form()] = "",
                  topic: Annotated[str, Form()] = "", material_type: Annotated[str, Form()] = "bai-giang",
                  language: Annotated[str, Form()] = "vi", licence: Annotated[str, Form()] = "cc-by-4.0",
                  rights: Annotated[str, Form()] = "", date_issued: Annotated[str, Form()] = "",
                  national_id: Annotated[str, Form()] = "", national_url: Annotated[str, Form()] = "",
                  file: UploadFile | None = None):
    form = dict(title=title, creators=creators, keywords=keywords, description=description, subject_code=subject_code,
                grade=grade, topic=topic, material_type=material_type, language=language, licence=licence,
                rights=rights, date_issued=date_issued, national_id=national_id, national_url=national_url)
    if not subject_code:  # no subject is preset: the uploader chooses one
        return _render(request, "manage.html", user, status_code=422, items=_my_items(session, user),
                       errors=["Hãy chọn môn học của học liệu."], form=form)
    staged = None
    try:
        data = ItemIn(**{**form, "creators": _split(creators, ";"), "keywords": _split(keywords, ","),
                         "grade": int(grade) if grade.strip() else None})
        if file is None or not file.filename:
            raise UploadError("Hãy chọn tệp học liệu để tải lên")
        staged = stage(rt.store, file.file, file.filename, service.limits_from(rt.settings))
        item = service.create_item(session, data, user)
        service.attach_file(session, rt.store, item, staged, user)
    except ValidationError as exc:
        if staged:
            staged.discard()
        errors = [str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()]
        return _render(request, "manage.html", user, status_code=422, items=_my_items(session, user),
                       errors=errors, form=form)
    except UploadError as exc:
        session.rollback()
        return _render(request, "manage.html", user, status_code=exc.status_code, items=_my_items(session, user),
                       errors=[str(exc)], form=form)
    rt.files_queued()
    return RedirectResponse(f"/library/items/{item.id}?msg=created", status_code=303)


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, session: DbSession, user: Staff):
    require_province(user)
    items = session.scalars(select(LibraryItem).where(or_(LibraryItem.status == "submitted",
                                                          LibraryItem.status == "appraised"))
                            .order_by(LibraryItem.updated_at)).all()
    return _render(request, "review.html", user, items=items)


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request, session: DbSession, user: Staff):
    if user.role not in PROVINCE:
        raise HTTPException(403, "Chức năng này dành cho cán bộ Sở.")
    return _render(request, "stats.html", user, by_item=service.usage_by_item(session),
                   by_school=service.usage_by_school(session), by_status=service.status_counts(session))
