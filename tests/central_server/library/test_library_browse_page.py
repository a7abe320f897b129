"""The library's browse page: facet counts (subject, grade, type, year), sort orders (relevance, newest, title in
Vietnamese order), the newest items, thumbnails; the approve button is not offered to the item's creator; the
upload form presets no subject. SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import re

from central_server.library import service
from central_server.library.tables import LibraryItem


def _publish(db, user, reviewer, data) -> LibraryItem:
    item = service.create_item(db, data, user)
    item.kind = "title"  # titles may be submitted without a file
    service.apply_action(db, item, "submit", "", user)
    service.apply_action(db, item, "approve", "Đạt yêu cầu", reviewer)
    service.apply_action(db, item, "publish", "", reviewer)
    return item


def _titles(html: str) -> list[str]:
    return re.findall(r'class="result-title">([^<]+)</a>', html)


def _facet(html: str, name: str) -> dict[str, str]:
    block = re.search(rf'<div class="facet" id="facet-{name}">(.*?)</div>', html, re.S)
    return dict(re.findall(r'data-value="([^"]+)">[^<]*?\((\d+)\)', block.group(1))) if block else {}


def test_facets_sorts_and_new_items(db, lib_app, make_user, new_item, client):
    teacher = make_user("gv_a", "teacher", school_id=1)
    reviewer = make_user("cb_so", "province_staff")
    for title, subject, grade, kind, issued in [
        ("Trương Định và phong trào Nam Kỳ", "lich-su", 11, "bai-giang", "2024"),
        ("Trần Hưng Đạo: ba lần kháng chiến", "lich-su", 10, "video", "2025-09-01"),
        ("Đại số lớp 10", "toan", 10, "bai-giang", "2025"),
        ("Dao động điều hoà", "vat-li", 12, "bai-giang", ""),
    ]:
        _publish(db, teacher, reviewer, new_item(title=title, subject_code=subject, grade=grade, material_type=kind,
                                                 date_issued=issued))
    db.commit()

    home = client.get("/library").text
    fresh = re.search(r'id="new-items">(.*?)</section>', home, re.S).group(1)
    assert fresh.index("Dao động điều hoà") < fresh.index("Trương Định")  # newest published first
    assert _facet(home, "subject") == {"lich-su": "2", "toan": "1", "vat-li": "1"}
    assert _facet(home, "grade") == {"10": "2", "11": "1", "12": "1"}
    assert _facet(home, "type") == {"bai-giang": "3", "video": "1"}
    assert _facet(home, "year") == {"2025": "2", "2024": "1"}

    # title order is Vietnamese: D < Đ, Trần < Trương
    by_title = client.get("/library?sort=title").text
    assert _titles(by_title) == ["Dao động điều hoà", "Đại số lớp 10", "Trần Hưng Đạo: ba lần kháng chiến",
                                 "Trương Định và phong trào Nam Kỳ"]
    newest = _titles(client.get("/library?sort=newest").text)
    assert newest[0] == "Dao động điều hoà" and newest[-1] == "Trương Định và phong trào Nam Kỳ"

    # a filter narrows the results and the counts; a year filter works though the year is not indexed
    lich_su = client.get("/library?subject=lich-su&sort=title").text
    assert _titles(lich_su) == ["Trần Hưng Đạo: ba lần kháng chiến", "Trương Định và phong trào Nam Kỳ"]
    assert _facet(lich_su, "grade") == {"10": "1", "11": "1"} and 'id="new-items"' not in lich_su
    assert _titles(client.get("/library?year=2025&sort=title").text) == ["Đại số lớp 10",
                                                                          "Trần Hưng Đạo: ba lần kháng chiến"]
    assert "facet-clear" in client.get("/library?year=2025").text
    # words and facets together: accent-insensitive, counts of the hits only
    hits = client.get("/library?q=tran+hung+dao").text
    assert _titles(hits) == ["Trần Hưng Đạo: ba lần kháng chiến"] and _facet(hits, "type") == {"video": "1"}


def test_the_creator_is_not_offered_the_approve_button(db, lib_app, make_user, new_item, client_for):
    author = make_user("cb_tacgia", "province_staff")
    other = make_user("cb_khac", "province_staff")
    item = service.create_item(db, new_item(title="Tài liệu do cán bộ Sở soạn"), author)
    item.kind = "title"
    service.apply_action(db, item, "submit", "", author)
    db.commit()
    own = client_for(author).get(f"/library/items/{item.id}").text
    assert 'id="act-approve"' not in own and 'id="act-return"' not in own
    theirs = client_for(other).get(f"/library/items/{item.id}").text
    assert 'id="act-approve"' in theirs and 'id="act-return"' in theirs


def test_upload_form_presets_no_subject(db, lib_app, make_user, client_for):
    teacher = client_for(make_user("gv_a", "teacher", school_id=1))
    form = teacher.get("/library/manage").text
    select = re.search(r'<select name="subject_code".*?</select>', form, re.S).group(0)
    assert 'selected' not in select and '<option value="">— chọn môn —</option>' in select
    r = teacher.post("/library/manage", data={"title": "Bài giảng mới", "subject_code": ""},
                     files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert r.status_code == 422 and "Hãy chọn môn học" in r.text
    assert 'value="Bài giảng mới"' in r.text  # what was typed is kept
