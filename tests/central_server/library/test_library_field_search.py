"""Field search (title / author / subject-keyword / year) in the library API and the browse page, on SQLite FTS5
and PostgreSQL full text: a word found in one field does not match a search in another."""

from __future__ import annotations

import pytest
from lxml import html

from central_server.library import service


def _publish(db, user, reviewer, data):
    item = service.create_item(db, data, user)
    item.kind = "title"  # titles may be submitted without a file
    for action, who in (("submit", user), ("approve", reviewer), ("publish", reviewer)):
        service.apply_action(db, item, action, "Đạt", who)
    return item


@pytest.fixture()
def shelf(db, people, new_item):
    t, rv = people["teacher"], people["reviewer"]
    books = [
        # "Hùng" is a title word in one book and an author's name in another; "Sóc Trăng" a title word and a keyword
        dict(title="Truyện Hùng Vương dựng nước", creators=["Lê Thị Mai"], keywords=["Truyền thuyết"],
             date_issued="2019", subject_code="ngu-van"),
        dict(title="Đại số 10", creators=["Phạm Văn Hùng"], keywords=["Sóc Trăng", "Bài tập"], date_issued="2023",
             subject_code="toan"),
        dict(title="Địa lí Sóc Trăng", creators=["Nguyễn Văn An"], keywords=["Địa phương"], date_issued="2023-09",
             subject_code="dia-phuong"),
    ]
    items = [_publish(db, t, rv, new_item(**b)) for b in books]
    db.commit()
    return items


def titles(client, **params) -> set[str]:
    r = client.get("/api/library/items", params=params)
    assert r.status_code == 200, r.text
    return {i["title"] for i in r.json()["items"]}


def test_field_search_in_the_api(client, shelf):
    assert titles(client, q="hung") == {"Truyện Hùng Vương dựng nước", "Đại số 10"}  # free text: every field
    assert titles(client, title="hung") == {"Truyện Hùng Vương dựng nước"}
    assert titles(client, author="Hùng") == {"Đại số 10"}
    assert titles(client, author="pham van hung") == {"Đại số 10"}
    assert titles(client, author="hung vuong") == set()
    assert titles(client, keyword="soc trang") == {"Đại số 10"}
    assert titles(client, title="Sóc Trăng") == {"Địa lí Sóc Trăng"}
    assert titles(client, keyword="Toán") == {"Đại số 10"}  # the school subject's name is a keyword
    assert titles(client, year=2023) == {"Đại số 10", "Địa lí Sóc Trăng"}
    assert titles(client, year=2023, keyword="địa phương") == {"Địa lí Sóc Trăng"}
    assert titles(client, q="bai tap", author="hung", year=2023) == {"Đại số 10"}
    assert titles(client, year=2019, title="dai so") == set()
    assert client.get("/api/library/items", params={"year": "20x3"}).status_code == 422
    assert client.get("/api/library/items", params={"author": "a" * 301}).status_code == 422


def test_field_search_on_the_browse_page(client, shelf):
    r = client.get("/library", params={"author": "Hùng", "year": "2023"})
    assert r.status_code == 200
    page = html.fromstring(r.text)
    assert [a.text_content() for a in page.find_class("result-title")] == ["Đại số 10"]
    assert page.get_element_by_id("f-author").get("value") == "Hùng"
    assert page.get_element_by_id("f-year").get("value") == "2023"
    assert page.get_element_by_id("field-search").get("open") is not None
    r = client.get("/library", params={"title": "hung", "year": "not-a-year"})
    assert [a.text_content() for a in html.fromstring(r.text).find_class("result-title")] == [
        "Truyện Hùng Vương dựng nước"]


def test_migration_rebuilds_the_field_tokens_of_existing_items(db_url):
    """Items indexed before field search get their author/keyword/year tokens from the migration."""
    from sqlalchemy import text

    from central_server.core.auth import create_user
    from central_server.core.db import make_engine, make_sessionmaker
    from central_server.core.migrate import downgrade, upgrade
    from central_server.library.schemas import ItemIn
    from central_server.library.search import SearchQuery, search

    upgrade(db_url)
    downgrade(db_url, "library_0001")
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            user = create_user(session, "gv_mig2", "Matkhau-2025!", "teacher", school_id=3)
            item = service.create_item(session, ItemIn(title="Địa lí", creators=["Phạm Văn Hùng"],
                                                       date_issued="2021", subject_code="dia-li"), user)
            session.commit()
            # as the previous code indexed it: filter facets only
            session.execute(text("UPDATE library_search_docs SET facets = 'zzstdraft zzsjdiali' WHERE item_id = :i"),
                            {"i": item.id})
            session.commit()
            q = SearchQuery(author="hung", year=2021, statuses=("draft",))
            assert search(session, q).ids == []
        upgrade(db_url)
        with make_sessionmaker(engine)() as session:
            assert search(session, SearchQuery(author="hung", year=2021, statuses=("draft",))).ids == [item.id]
    finally:
        engine.dispose()
