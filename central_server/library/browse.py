"""What the browse page adds around a search: sort orders, facet counts, the newest items, result thumbnails.

The search backends (search.py) give hits in relevance order (title matches first, then newest). The browse page
reads every hit's id, up to search.COUNT_CAP, and sorts, counts facets and pages over those (a query with more
hits than that is shown as "more than" and only its first COUNT_CAP hits are sorted and counted).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.names import collation_key

from .search import COUNT_CAP, SearchPage, SearchQuery, backend_for
from .tables import LibraryFile, LibraryItem
from .vocab import MATERIAL_TYPES, SUBJECTS

SORTS = {"relevance": "Phù hợp nhất", "newest": "Mới nhất", "title": "Nhan đề (A–Z)"}
FACETS = {"subject": "Môn học", "grade": "Khối lớp", "type": "Loại học liệu", "year": "Năm phát hành"}


def _all_ids(session: Session, query: SearchQuery) -> SearchPage:
    """Every hit of `query` (filters applied) in relevance order, up to COUNT_CAP."""
    everything = dataclasses.replace(query, page=1, per_page=COUNT_CAP)
    return backend_for(session).search(session, everything)


def _year(item: LibraryItem) -> str:
    issued = (item.date_issued or "")[:4]
    return issued if issued.isdigit() else ""


def run(session: Session, query: SearchQuery, sort: str, year: str = "") -> tuple[SearchPage, list[LibraryItem], dict]:
    """(the page of hits, its items, facet counts {facet: [(value, label, count)]}) for `query` in `sort` order,
    restricted to items issued in `year` when given (the year is not a search-index facet)."""
    hits = _all_ids(session, query)
    found = {i.id: i for i in session.scalars(select(LibraryItem).where(LibraryItem.id.in_(hits.ids or [-1])))}
    ordered = [found[i] for i in hits.ids if i in found]  # relevance order
    if year:
        ordered = [i for i in ordered if _year(i) == year]
    if sort == "newest":
        ordered.sort(key=lambda i: (i.published_at or i.created_at, i.id), reverse=True)
    elif sort == "title":
        ordered.sort(key=lambda i: collation_key(i.title))
    start = (query.page - 1) * query.per_page
    shown = ordered[start:start + query.per_page]
    total = len(ordered) if year else hits.total
    page = SearchPage([i.id for i in shown], total, query.page, query.per_page, hits.tokens, hits.capped and not year)
    return page, shown, _facets(ordered)


def _facets(items: list[LibraryItem]) -> dict[str, list[tuple[str, str, int]]]:
    subject = Counter(i.subject_code for i in items)
    grade = Counter(i.grade for i in items if i.grade)
    kind = Counter(i.material_type for i in items)
    year = Counter(_year(i) for i in items if _year(i))
    return {
        "subject": sorted(((c, SUBJECTS.get(c, c), n) for c, n in subject.items()), key=lambda f: -f[2]),
        "grade": [(str(g), f"Lớp {g}", n) for g, n in sorted(grade.items())],
        "type": sorted(((c, MATERIAL_TYPES.get(c, (c,))[0], n) for c, n in kind.items()), key=lambda f: -f[2]),
        "year": [(y, y, n) for y, n in sorted(year.items(), reverse=True)],
    }


def newest(session: Session, limit: int = 6) -> list[LibraryItem]:
    """The most recently published items (the "new items" list)."""
    return list(session.scalars(select(LibraryItem).where(LibraryItem.status == "published")
                                .order_by(LibraryItem.published_at.desc(), LibraryItem.id.desc()).limit(limit)))


def thumbnails(session: Session, items: list[LibraryItem]) -> set[int]:
    """Ids of the items whose file has a thumbnail (a cover or the first page)."""
    shas = {i.file_sha256 for i in items if i.file_sha256}
    with_thumb = set(session.scalars(select(LibraryFile.sha256).where(LibraryFile.sha256.in_(shas or {""}),
                                                                      LibraryFile.thumb_sha256.is_not(None))))
    return {i.id for i in items if i.file_sha256 in with_thumb}


def browse_url(q: str, filters: dict[str, str], sort: str, **changes: str) -> str:
    """The browse page's address for the current search with some filters changed ("" removes one)."""
    params = {"q": q, **filters, "sort": sort, **changes}
    return "/library?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})
