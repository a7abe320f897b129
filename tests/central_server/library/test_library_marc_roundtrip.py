"""MARC 21 round trip of what a Koha record holds beyond the mapped item fields (650 headings, 245 $b,
264 $a, 300 $c), the school subject of imported titles, and OAI-PMH school sets named by MOET school code."""

from __future__ import annotations

import io

import pymarc
import pytest
from lxml import etree
from pymarc import Field, Indicators, Record, Subfield

from central_server.library import service
from central_server.library.subject_map import subject_of
from central_server.library.tables import LibraryItem
from central_server.masterdata.service import create_school

NS = {"o": "http://www.openarchives.org/OAI/2.0/"}


def full_record(title: str, subtitle: str, ddc: str, heading: str) -> Record:
    r = Record(force_utf8=True)
    r.leader = "00000nam a22000007a 4500"
    r.add_field(Field("008", data="240101s2023    vm            000 0 vie d"))
    r.add_field(Field("082", Indicators("0", "4"), [Subfield("a", ddc), Subfield("2", "23")]))
    r.add_field(Field("100", Indicators("1", " "), [Subfield("a", "Trần Văn Soạn.")]))
    r.add_field(Field("245", Indicators("1", "0"), [Subfield("a", f"{title} :"), Subfield("b", f"{subtitle} /"),
                                                    Subfield("c", "Trần Văn Soạn")]))
    r.add_field(Field("264", Indicators(" ", "1"), [Subfield("a", "Hà Nội :"), Subfield("b", "NXB Giáo dục,"),
                                                    Subfield("c", "2023.")]))
    r.add_field(Field("300", Indicators(" ", " "), [Subfield("a", "215 tr. :"), Subfield("b", "minh họa ;"),
                                                    Subfield("c", "24 cm")]))
    r.add_field(Field("650", Indicators(" ", "7"), [Subfield("a", heading), Subfield("2", "bidex")]))
    r.add_field(Field("653", Indicators(" ", " "), [Subfield("a", "Sách tham khảo")]))
    r.add_field(Field("952", Indicators(" ", " "), [Subfield("a", "THPT1"), Subfield("p", "BC0001")]))
    return r


def test_marc_round_trip_keeps_650_245b_264a_300c_and_maps_the_subject(client, bearer_for, people, db):
    rv = bearer_for(people["reviewer"])
    data = b"".join(r.as_marc() for r in (
        full_record("Lịch sử Sóc Trăng", "từ khẩn hoang đến nay", "959.7", "Lịch sử địa phương"),
        full_record("Giải tích 12", "nâng cao", "515", "Giải tích"),
        full_record("Tuyển tập truyện ngắn", "văn học Việt Nam", "895.9223", "Truyện ngắn")))
    r = client.post("/api/library/marc/import", files={"file": ("koha.mrc", data)}, data={"publish": "true"},
                    headers=rv)
    assert r.status_code == 201, r.text
    items = [db.get(LibraryItem, i) for i in r.json()["item_ids"]]
    assert [i.title for i in items][0] == "Lịch sử Sóc Trăng : từ khẩn hoang đến nay"
    assert [i.subject_code for i in items] == ["dia-phuong", "toan", "ngu-van"]
    for fmt in ("marcxml", "iso2709"):
        body = client.get("/api/library/marc/export", params={"format": fmt}, headers=rv).content
        records = pymarc.parse_xml_to_array(io.BytesIO(body), strict=True) if fmt == "marcxml" else \
            list(pymarc.MARCReader(body, to_unicode=True))
        first = records[0]
        assert first["245"]["a"] == "Lịch sử Sóc Trăng :" and first["245"]["b"] == "từ khẩn hoang đến nay"
        assert first["264"]["a"] == "Hà Nội" and first["264"]["b"] == "NXB Giáo dục"
        assert first["300"]["a"] == "215 tr." and first["300"]["b"] == "minh họa ;" and first["300"]["c"] == "24 cm"
        h650 = first.get_fields("650")
        assert [(f["a"], f.indicator2, f["2"]) for f in h650] == [("Lịch sử địa phương", "7", "bidex")]
        assert [f["a"] for f in first.get_fields("653")] == ["Sách tham khảo"]
        assert len(first.get_fields("952")) == 1
    # and back again: a second import of the export gives the same item fields
    again = client.post("/api/library/marc/import", files={"file": ("again.xml", body)}, headers=rv)
    assert again.status_code == 201
    copy = db.get(LibraryItem, again.json()["item_ids"][0])
    assert (copy.title, copy.keywords, copy.publisher, copy.extent, copy.subject_code) == (
        items[0].title, items[0].keywords, items[0].publisher, items[0].extent, items[0].subject_code)


@pytest.mark.parametrize("headings,ddc,expected", [
    (["Toán học"], "", "toan"), (["An toàn giao thông"], "", "khac"), (["Tiếng Khmer"], "", "tieng-khmer"),
    ([], "005.133", "tin-hoc"), ([], "530", "vat-li"), ([], "959.7", "lich-su"), ([], "915.97", "dia-li"),
    ([], "428", "tieng-anh"), ([], "", "khac"), (["Văn hóa Sóc Trăng"], "390", "dia-phuong"),
])
def test_subject_of_headings_and_class_number(headings, ddc, expected):
    assert subject_of(headings, ddc) == expected


def test_oai_school_sets_use_moet_school_codes(client, people, db, new_item):
    school = create_school(db, "94000701", "THPT Hoàng Diệu")
    db.commit()
    teacher = people["school_admin"]
    teacher.school_id = school.id
    db.add(teacher)
    rv = people["reviewer"]
    item = service.create_item(db, new_item(title="Bài giảng Hoàng Diệu"), teacher)
    item.kind = "title"  # a catalogue title needs no uploaded file to be submitted
    for action, who in (("submit", teacher), ("approve", rv), ("publish", rv)):
        service.apply_action(db, item, action, "Đạt", who)
    other = service.create_item(db, new_item(title="Học liệu trường không mã"), people["teacher2"])
    other.kind = "title"
    for action, who in (("submit", people["teacher2"]), ("approve", rv), ("publish", rv)):
        service.apply_action(db, other, action, "Đạt", who)
    db.commit()

    def oai(**params):
        return etree.fromstring(client.get("/library/oai", params=params).content)

    sets = {s.text for s in oai(verb="ListSets").iterfind(".//o:setSpec", NS)}
    assert "school:94000701" in sets and f"school:{school.id}" not in sets
    assert "school:2" in sets  # a school with no master-data row keeps its id
    root = oai(verb="ListIdentifiers", metadataPrefix="oai_dc", set="school:94000701")
    headers = root.findall(".//o:header", NS)
    assert len(headers) == 1 and "school:94000701" in [s.text for s in headers[0].iterfind("o:setSpec", NS)]
    by_id = oai(verb="ListIdentifiers", metadataPrefix="oai_dc", set=f"school:{school.id}")
    assert by_id.find("o:error", NS).get("code") == "noRecordsMatch"
