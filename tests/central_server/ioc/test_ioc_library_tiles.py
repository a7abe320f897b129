"""The IOC's library tiles from real use of the library: searches (pages and API, counted once per search, the
words never stored), views and downloads, per school and for the province."""

from __future__ import annotations

from sqlalchemy import select

from central_server.ioc.tables import IocTile
from central_server.library import service
from central_server.library.tables import LibrarySearch
from tests.central_server.library.conftest import item_in

WORD = "Hoa Tú"  # a word only the searches contain


def _published_title(db, author, reviewer, title):
    item = service.create_item(db, item_in(title=title), author)
    item.kind = "title"  # a catalogue title needs no file
    for action, who in (("submit", author), ("approve", reviewer), ("publish", reviewer)):
        service.apply_action(db, item, action, "Đạt", who)
    db.commit()
    return item


def _value(db, scope, key):
    db.expire_all()
    tile = db.get(IocTile, (scope, key))
    return None if tile is None else tile.value


def test_library_searches_views_reach_the_ioc_tiles(world, db, client, client_for, make_user, run_tick):
    a, b = world["a"], world["b"]
    teacher_a = world["users"]["teacher"]
    reviewer = make_user("cb_thu_vien", "province_staff")
    item = _published_title(db, teacher_a, reviewer, f"Địa lí {WORD}")
    run_tick()
    assert _value(db, "P", "lib_searches") == 0
    assert _value(db, "P", "lib_published") == 1 and _value(db, f"S{a.id}", "lib_published") == 1

    as_a = client_for(teacher_a)
    as_b = client_for(make_user("gv_b", "teacher", school_id=b.id))
    r = as_a.get("/api/library/items", params={"q": WORD, "per_page": 1})
    assert r.status_code == 200 and r.json()["total"] == 1
    assert as_a.get("/api/library/items", params={"q": WORD, "per_page": 1, "page": 2}).status_code == 200
    assert as_a.get("/api/library/items").status_code == 200  # a bare listing is browsing, not a search
    assert as_b.get("/library", params={"title": "khong co", "subject": "dia-li"}).status_code == 200
    assert client.get("/library", params={"q": WORD}).status_code == 200  # signed out
    assert client.get(f"/library/items/{item.id}").status_code == 200  # a view of school A's item

    rows = db.scalars(select(LibrarySearch).order_by(LibrarySearch.id)).all()
    assert [(r.via, r.school_id, r.fields, r.results) for r in rows] == [
        ("api", a.id, "q", 1), ("page", b.id, "subject,title", 0), ("page", None, "q", 1)]
    stored = " ".join(str(getattr(r, c.name)) for r in rows for c in LibrarySearch.__table__.columns).lower()
    assert "hoa" not in stored and "khong" not in stored  # the words searched are not kept

    run_tick()
    assert _value(db, "P", "lib_searches") == 3
    assert _value(db, f"S{a.id}", "lib_searches") == 1
    assert _value(db, f"S{b.id}", "lib_searches") == 1
    assert _value(db, "P", "lib_views") == 1 and _value(db, f"S{a.id}", "lib_views") == 1
    assert _value(db, f"S{b.id}", "lib_views") in (None, 0)

    # the school admin of B sees B's tiles only, with the search counted
    page = client_for(world["users"]["school_admin_b"]).get(f"/ioc/schools/{b.id}")
    assert page.status_code == 200 and "Lượt tìm kiếm học liệu" in page.text
