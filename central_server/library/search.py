"""Full-text search over metadata and extracted text, one interface, two backends:
SQLite FTS5 (default) and PostgreSQL full-text with `unaccent` (production).

Both are accent-insensitive for Vietnamese: documents are stored folded (textfold.fold) and each query is
folded the same way, so "lich su" finds "Lịch sử" and "Lịch sử" finds "lich su" (đ -> d too).

Speed at 100,000 items: the filters (status, subject, grade, type, language, school, kind) are indexed as
facet tokens inside the full-text index, so a query is answered by the index alone; results come in two
tiers, title matches then other matches, newest first within a tier (both read in index order, so a page
costs the same whatever the number of hits); the hit count is exact up to COUNT_CAP and shown as "more
than" beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from .search_ddl import PG_CONFIG
from .tables import LibraryFile, LibraryItem, LibrarySearchDoc
from .textfold import fold, tokens
from .vocab import LANGUAGES, LICENCES, MATERIAL_TYPES, SUBJECTS

MAX_QUERY_TOKENS = 12
COUNT_CAP = 1000


@dataclass
class SearchQuery:
    q: str = ""
    subject: str | None = None
    grade: int | None = None
    material_type: str | None = None
    language: str | None = None
    school_id: int | None = None
    kind: str | None = None
    # field search: words that must be in that field (folded, every word), and the year of publication
    title: str = ""
    author: str = ""
    keyword: str = ""  # subject headings / keywords, the school subject's name and the topic
    year: int | None = None
    statuses: tuple[str, ...] = ("published",)
    page: int = 1
    per_page: int = 20


@dataclass
class SearchPage:
    ids: list[int]
    total: int
    page: int
    per_page: int
    tokens: list[str] = field(default_factory=list)
    capped: bool = False  # total is a lower bound ("more than COUNT_CAP")

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class SearchBackend(Protocol):
    def search(self, session: Session, query: SearchQuery) -> SearchPage: ...


def _facet(name: str, value) -> str:
    return "zz" + name + "".join(ch for ch in str(value).lower() if ch.isalnum())


def _field_words(item: LibraryItem) -> dict[str, str]:
    """The text of each searchable field (author, keyword); the title has its own index column."""
    return {"au": " ".join([*(item.creators or []), *(item.contributors or [])]),
            "kw": " ".join([*(item.keywords or []), SUBJECTS.get(item.subject_code, ""), item.topic or ""])}


def facets_of(item: LibraryItem) -> str:
    """Filter tokens, and one prefixed token per word of the author and keyword fields and for the year."""
    year = (item.date_issued or "")[:4]
    values = [("st", item.status), ("sj", item.subject_code), ("gr", item.grade), ("ty", item.material_type),
              ("lg", item.language), ("sc", item.school_id), ("kd", item.kind),
              ("yr", year if year.isdigit() and len(year) == 4 else None)]
    for name, text_ in _field_words(item).items():
        values += [(name, t) for t in dict.fromkeys(tokens(text_))]
    return " ".join(_facet(n, v) for n, v in values if v is not None)


def query_facets(query: SearchQuery) -> tuple[list[str], list[str]]:
    """(facets that must all match, statuses of which one must match)."""
    required = [_facet(n, v) for n, v in (("sj", query.subject), ("gr", query.grade), ("ty", query.material_type),
                                          ("lg", query.language), ("sc", query.school_id), ("kd", query.kind),
                                          ("yr", query.year))
                if v not in (None, "")]
    for name, text_ in (("au", query.author), ("kw", query.keyword)):
        required += [_facet(name, t) for t in list(dict.fromkeys(tokens(text_)))[:MAX_QUERY_TOKENS]]
    return required, [_facet("st", s) for s in query.statuses]


def title_words(query: SearchQuery) -> list[str]:
    return list(dict.fromkeys(tokens(query.title)))[:MAX_QUERY_TOKENS]


def document_for(item: LibraryItem, file: LibraryFile | None) -> tuple[str, str]:
    """The folded (title, body) text indexed for an item: every Dublin Core / education field and file text."""
    parts = [
        " ".join(item.creators or []), " ".join(item.keywords or []), item.description, item.publisher,
        " ".join(item.contributors or []), item.topic, item.source, item.coverage, item.isbn, item.ddc,
        SUBJECTS.get(item.subject_code, ""), MATERIAL_TYPES.get(item.material_type, ("",))[0],
        LANGUAGES.get(item.language, ("",))[0], LICENCES.get(item.licence, ""), item.school_name,
        item.national_id, f"lop {item.grade}" if item.grade else "",
    ]
    if file is not None and file.text:
        parts.append(file.text)
    return fold(item.title), fold("\n".join(p for p in parts if p))


def index_item(session: Session, item: LibraryItem) -> None:
    """Write (or rewrite) the item's search document in the caller's transaction (after any change)."""
    file = session.get(LibraryFile, item.file_sha256) if item.file_sha256 else None
    title, body = document_for(item, file)
    facets = facets_of(item)
    doc = session.get(LibrarySearchDoc, item.id)
    if doc is None:
        session.add(LibrarySearchDoc(item_id=item.id, title=title, body=body, facets=facets))
    elif (doc.title, doc.body, doc.facets) != (title, body, facets):
        doc.title, doc.body, doc.facets = title, body, facets


def unindex_item(session: Session, item_id: int) -> None:
    session.execute(delete(LibrarySearchDoc).where(LibrarySearchDoc.item_id == item_id))


def _tiered(query: SearchQuery, count, fetch, has_words: bool) -> tuple[list[int], int, bool]:
    """Page assembly over tier 1 (title matches) then tier 2 (the rest). Tier 1 is read up to the end of the
    requested page only, which tells both the page's title hits and, when it runs short, tier 1's exact size."""
    total = count("all")
    offset, limit = (query.page - 1) * query.per_page, query.per_page
    if has_words:
        head = fetch("title", offset + limit, 0)
        ids = head[offset:]
        if len(head) < offset + limit:  # tier 1 is exhausted: len(head) is its size
            ids += fetch("rest", limit - len(ids), max(0, offset - len(head)))
    else:
        ids = fetch("all", limit, offset)
    return ids, min(total, COUNT_CAP), total > COUNT_CAP


def _fts5_quote(words: list[str]) -> str:
    return " AND ".join('"' + w.replace('"', '""') + '"' for w in words)


class SQLiteFTS5Search:
    """FTS5 MATCH with column filters: {title body} for words, facets for filters; rowid order (newest first)."""

    def search(self, session: Session, query: SearchQuery) -> SearchPage:
        words = list(dict.fromkeys(tokens(query.q)))[:MAX_QUERY_TOKENS]
        required, statuses = query_facets(query)
        filt = "facets : (" + " AND ".join([f'"{f}"' for f in required] + ["(" + " OR ".join(
            f'"{s}"' for s in statuses) + ")"]) + ")"
        if title_words(query):
            filt += f" AND title : ({_fts5_quote(title_words(query))})"
        w = _fts5_quote(words)
        match = {
            "all": f"{{title body}} : ({w}) AND {filt}" if words else filt,
            "title": f"title : ({w}) AND {filt}",
            "rest": f"(({{title body}} : ({w})) AND ({filt})) NOT (title : ({w}))",
        }

        def count(tier: str) -> int:
            return session.execute(text(
                "SELECT count(*) FROM (SELECT rowid FROM library_fts WHERE library_fts MATCH :m LIMIT :cap)"),
                {"m": match[tier], "cap": COUNT_CAP + 1}).scalar_one()

        def fetch(tier: str, limit: int, offset: int) -> list[int]:
            return list(session.execute(text(
                "SELECT rowid FROM library_fts WHERE library_fts MATCH :m ORDER BY rowid DESC LIMIT :l OFFSET :o"),
                {"m": match[tier], "l": limit, "o": offset}).scalars())

        ids, total, capped = _tiered(query, count, fetch, bool(words))
        return SearchPage(ids, total, query.page, query.per_page, words, capped)


class PostgresFullTextSearch:
    """tsvector @@ tsquery over `vn_unaccent` (GIN); the title tier uses the title-only vector; filters are
    facet lexemes in the main vector; item_id order (newest first) lets the planner stop early on frequent words."""

    def search(self, session: Session, query: SearchQuery) -> SearchPage:
        words = list(dict.fromkeys(tokens(query.q)))[:MAX_QUERY_TOKENS]
        required, statuses = query_facets(query)
        in_title = ["'" + t.replace("'", "") + "':A" for t in title_words(query)]  # weight A: the title
        filt = " & ".join(required + in_title + ["(" + " | ".join(statuses) + ")"])
        w = " & ".join("'" + t.replace("'", "") + "'" for t in words)
        main = f"({w}) & {filt}" if words else filt
        where = {
            "all": "tsv @@ to_tsquery(:cfg, :main)",
            "title": "tsv_title @@ to_tsquery(:cfg, :w) AND tsv @@ to_tsquery(:cfg, :main)",
            "rest": "tsv @@ to_tsquery(:cfg, :main) AND NOT tsv_title @@ to_tsquery(:cfg, :w)",
        }
        params = {"cfg": PG_CONFIG, "main": main, "w": w or "''"}

        def count(tier: str) -> int:
            return session.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM library_search_docs WHERE {where[tier]} "
                                        "LIMIT :cap) AS hits"), {**params, "cap": COUNT_CAP + 1}).scalar_one()

        def fetch(tier: str, limit: int, offset: int) -> list[int]:
            return list(session.execute(text(f"SELECT item_id FROM library_search_docs WHERE {where[tier]} "
                                             "ORDER BY item_id DESC LIMIT :l OFFSET :o"),
                                        {**params, "l": limit, "o": offset}).scalars())

        ids, total, capped = _tiered(query, count, fetch, bool(words))
        return SearchPage(ids, total, query.page, query.per_page, words, capped)


def backend_for(session: Session) -> SearchBackend:
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return SQLiteFTS5Search()
    if name == "postgresql":
        return PostgresFullTextSearch()
    raise ValueError(f"no search backend for {name!r}")


def search(session: Session, query: SearchQuery) -> SearchPage:
    query.page = min(max(1, query.page), COUNT_CAP)
    query.per_page = min(max(1, query.per_page), 100)
    return backend_for(session).search(session, query)
