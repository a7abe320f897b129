"""MARC 21 import/export of library titles (ISO 2709 and MARCXML) with pymarc, through the real app."""

from __future__ import annotations

import io

import pymarc
from pymarc import Field, Indicators, Record, Subfield
from sqlalchemy import func, select

from central_server.library import marc
from central_server.library.tables import LibraryItem


def koha_record(title: str, isbn: str, ddc: str, copies: int) -> Record:
    """A record as a Koha school library exports it: ISBD punctuation, 952 holdings, local 090 call number."""
    r = Record(force_utf8=True)
    r.leader = "00000nam a22000007a 4500"
    r.add_field(Field("008", data="240101s2023    vm            000 0 vie d"))
    r.add_field(Field("020", Indicators(" ", " "), [Subfield("a", isbn + " (bìa mềm)")]))
    r.add_field(Field("082", Indicators("0", "4"), [Subfield("a", ddc), Subfield("2", "23")]))
    r.add_field(Field("090", Indicators(" ", " "), [Subfield("a", f"{ddc} NG-V")]))
    r.add_field(Field("100", Indicators("1", " "), [Subfield("a", "Nguyễn Văn Tác Giả.")]))
    r.add_field(Field("245", Indicators("1", "0"), [Subfield("a", title + " /"), Subfield("c", "Nguyễn Văn Tác Giả")]))
    r.add_field(Field("260", Indicators(" ", " "), [Subfield("b", "NXB Giáo dục Việt Nam,"), Subfield("c", "c2023.")]))
    r.add_field(Field("300", Indicators(" ", " "), [Subfield("a", "215 tr. ;")]))
    r.add_field(Field("650", Indicators(" ", "7"), [Subfield("a", "Lịch sử địa phương")]))
    for n in range(copies):
        r.add_field(Field("952", Indicators(" ", " "), [Subfield("a", "THPT1"), Subfield("p", f"BC{n:04d}")]))
    return r


def test_import_iso2709_publish_search_and_export_round_trip(client, bearer_for, people, db):
    rv = bearer_for(people["reviewer"])
    data = b"".join(koha_record(t, f"978604000{n:04d}", "959.79", n + 1).as_marc()
                    for n, t in enumerate(["Lịch sử Sóc Trăng", "Địa chí Sóc Trăng"]))
    r = client.post("/api/library/marc/import", files={"file": ("koha.mrc", data)}, data={"publish": "true"},
                    headers=rv)
    assert r.status_code == 201 and r.json()["imported"] == 2
    first = db.get(LibraryItem, r.json()["item_ids"][0])
    assert (first.title, first.creators, first.isbn, first.ddc, first.publisher, first.date_issued, first.copies) == (
        "Lịch sử Sóc Trăng", ["Nguyễn Văn Tác Giả"], "9786040000000", "959.79", "NXB Giáo dục Việt Nam", "2023", 1)
    assert first.status == "published" and first.reviewer_name
    # published titles are searchable without accents
    found = client.get("/api/library/items", params={"q": "dia chi soc trang", "kind": "title"}).json()
    assert [i["title"] for i in found["items"]] == ["Địa chí Sóc Trăng"]
    # export both formats; unmapped fields (952 holdings, 090) survive the round trip
    xml = client.get("/api/library/marc/export", params={"format": "marcxml"}, headers=rv)
    records = pymarc.parse_xml_to_array(io.BytesIO(xml.content), strict=True)
    assert [r["245"]["a"] for r in records] == ["Lịch sử Sóc Trăng", "Địa chí Sóc Trăng"]
    assert len(records[1].get_fields("952")) == 2 and records[1]["090"]["a"] == "959.79 NG-V"
    iso = client.get("/api/library/marc/export", params={"format": "iso2709"}, headers=rv)
    again = list(pymarc.MARCReader(iso.content, to_unicode=True))
    assert all(rec is not None for rec in again) and again[0].leader[9] == "a"  # UTF-8
    assert [marc.record_to_fields(rec)["isbn"] for rec in again] == ["9786040000000", "9786040000001"]


def test_malformed_marc_is_refused_whole(client, bearer_for, people, db):
    t, rv = bearer_for(people["teacher"]), bearer_for(people["reviewer"])
    good = koha_record("Sách tốt", "9786040000099", "500", 1).as_marc()
    no_title = Record(force_utf8=True)
    no_title.add_field(Field("020", Indicators(" ", " "), [Subfield("a", "123")]))
    cases = [
        (good + good[:-40], "Bản ghi số 2"),  # truncated second record
        (good + no_title.as_marc(), "Bản ghi số 2: thiếu trường 245"),
        (b"this is not marc", "Không nhận ra định dạng"),
        (b"<collection xmlns='http://www.loc.gov/MARC21/slim'><record><leader>x", "MARCXML không hợp lệ"),
        (b"", "rỗng"),
    ]
    for data, words in cases:
        r = client.post("/api/library/marc/import", files={"file": ("x.mrc", data)}, headers=t)
        assert r.status_code == 422 and words in r.json()["detail"], (words, r.text)
    assert db.scalar(select(func.count()).select_from(LibraryItem)) == 0  # nothing half-imported
    # only province staff may publish on import
    r = client.post("/api/library/marc/import", files={"file": ("x.mrc", good)}, data={"publish": "true"}, headers=t)
    assert r.status_code == 403
    r = client.post("/api/library/marc/import", files={"file": ("x.mrc", good)}, headers=t)
    assert r.status_code == 201 and db.get(LibraryItem, r.json()["item_ids"][0]).status == "draft"
    assert client.get("/api/library/marc/export", params={"format": "mods"}, headers=rv).status_code == 422


def test_only_reviewers_export_unpublished_records(client, bearer_for, people):
    """Issue 15 item 5: a teacher or school admin exports published records only; drafts go to the reviewers."""
    t, rv = bearer_for(people["teacher"]), bearer_for(people["reviewer"])
    r = client.post("/api/library/marc/import", files={"file": ("draft.mrc", koha_record(
        "Bản thảo chưa thẩm định", "9786040000777", "500", 1).as_marc())}, headers=t)
    assert r.status_code == 201
    for status in ("draft", "submitted", "appraised", "withdrawn"):
        refused = client.get("/api/library/marc/export", params={"status": status}, headers=t)
        assert refused.status_code == 403 and "Sở" in refused.json()["detail"], status
    assert client.get("/api/library/marc/export", headers=t).status_code == 200
    drafts = client.get("/api/library/marc/export", params={"status": "draft"}, headers=rv)
    records = pymarc.parse_xml_to_array(io.BytesIO(drafts.content), strict=True)
    assert [rec["245"]["a"] for rec in records] == ["Bản thảo chưa thẩm định"]
