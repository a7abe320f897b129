"""Accent-insensitive Vietnamese full-text search with filters and paging, on SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import pytest

from central_server.library import service
from central_server.library.search import SearchQuery, search
from central_server.library.tables import LibraryItem
from central_server.library.textfold import fold, tokens


def test_fold_vietnamese_and_khmer():
    assert fold("Lịch sử ĐỊA LÍ đường Nghĩa") == "lich su dia li duong nghia"
    assert tokens("Lịch-sử, lớp 10!") == ["lich", "su", "lop", "10"]
    assert tokens("ភាសាខ្មែរ") == ["ភាសាខ្មែរ"]  # Khmer vowel signs are not stripped


def _publish(db, user, reviewer, data) -> LibraryItem:
    item = service.create_item(db, data, user)
    item.file_sha256 = None
    item.kind = "title"  # titles may be submitted without a file
    service.apply_action(db, item, "submit", "", user)
    service.apply_action(db, item, "approve", "Đạt yêu cầu", reviewer)
    service.apply_action(db, item, "publish", "", reviewer)
    return item


@pytest.fixture()
def corpus(db, make_user, new_item):
    teacher = make_user("gv_a", "teacher", school_id=1)
    other = make_user("gv_b", "teacher", school_id=2)
    reviewer = make_user("cb_so", "province_staff")
    items = {
        "lich_su": _publish(db, teacher, reviewer, new_item(title="Lịch sử Việt Nam thời Lý", subject_code="lich-su")),
        "plain": _publish(db, other, reviewer, new_item(title="Bai giang lich su dia phuong Soc Trang",
                                                        subject_code="lich-su", grade=11)),
        "duong": _publish(db, teacher, reviewer, new_item(title="Đường tròn lượng giác", subject_code="toan",
                                                          material_type="video")),
        "khmer": _publish(db, other, reviewer, new_item(title="ភាសាខ្មែរ ថ្នាក់ទី១០", subject_code="tieng-khmer",
                                                        language="km")),
        "draft": service.create_item(db, new_item(title="Lịch sử bản nháp"), teacher),
    }
    db.commit()
    return items


def _titles(db, **kw) -> list[str]:
    page = search(db, SearchQuery(**kw))
    return [db.get(LibraryItem, i).title for i in page.ids]


def test_accent_insensitive_both_ways(db, corpus):
    assert set(_titles(db, q="lich su")) == {"Lịch sử Việt Nam thời Lý", "Bai giang lich su dia phuong Soc Trang"}
    assert set(_titles(db, q="Lịch sử")) == {"Lịch sử Việt Nam thời Lý", "Bai giang lich su dia phuong Soc Trang"}
    assert _titles(db, q="duong tron") == ["Đường tròn lượng giác"]
    assert _titles(db, q="ĐƯỜNG") == ["Đường tròn lượng giác"]
    assert _titles(db, q="ភាសាខ្មែរ") == ["ភាសាខ្មែរ ថ្នាក់ទី១០"]


def test_drafts_hidden_unless_asked(db, corpus):
    assert "Lịch sử bản nháp" not in _titles(db, q="lich su")
    staff = _titles(db, q="lich su", statuses=("draft", "published"))
    assert "Lịch sử bản nháp" in staff


def test_filters_and_metadata_fields(db, corpus):
    assert _titles(db, q="lich su", grade=11) == ["Bai giang lich su dia phuong Soc Trang"]
    assert _titles(db, q="lich su", school_id=1) == ["Lịch sử Việt Nam thời Lý"]
    assert _titles(db, material_type="video") == ["Đường tròn lượng giác"]
    assert _titles(db, language="km") == ["ភាសាខ្មែរ ថ្នាក់ទី១០"]
    # the creator and the subject label are indexed too
    assert len(_titles(db, q="nguyen van a")) == 4
    assert _titles(db, q="toan", subject="toan") == ["Đường tròn lượng giác"]
    assert _titles(db, q="không có từ này") == []


def test_paging(db, corpus):
    first = search(db, SearchQuery(q="nguyen", per_page=3, page=1))
    second = search(db, SearchQuery(q="nguyen", per_page=3, page=2))
    assert first.total == second.total == 4 and first.pages == 2
    assert len(first.ids) == 3 and len(second.ids) == 1 and not set(first.ids) & set(second.ids)


def test_query_syntax_is_not_injected(db, corpus):
    # FTS5 / tsquery operators in user input are plain words, never syntax errors
    for q in ['lich" OR "su', "NEAR(lich su)", "lich & !su", "*", "title:lich", "'; DROP TABLE x; --"]:
        search(db, SearchQuery(q=q))


def test_title_matches_come_first_then_newest(db, corpus, make_user, new_item):
    teacher = make_user("gv_c", "teacher", school_id=3)
    reviewer = make_user("cb_so2", "province_staff")
    old_title = _publish(db, teacher, reviewer, new_item(title="Nhà Lý và nhà Trần"))
    body_only = _publish(db, teacher, reviewer, new_item(title="Tư liệu tham khảo", description="Thời nhà Lý"))
    newest_title = _publish(db, teacher, reviewer, new_item(title="Nhà Lý dời đô"))
    db.commit()
    # title hits (newest first) come before a newer body-only hit
    assert search(db, SearchQuery(q="nha ly")).ids == [newest_title.id, old_title.id, body_only.id]
    second = search(db, SearchQuery(q="nha ly", per_page=2, page=2))
    assert second.ids == [body_only.id] and second.total == 3


def test_total_is_capped_for_very_common_words(db, make_user, new_item, monkeypatch):
    from central_server.library import search as search_module

    monkeypatch.setattr(search_module, "COUNT_CAP", 5)
    teacher = make_user("gv_d", "teacher", school_id=4)
    for i in range(7):
        service.create_item(db, new_item(title=f"Ôn tập {i}"), teacher)
    db.commit()
    page = search(db, SearchQuery(q="on tap", statuses=("draft",), per_page=3))
    assert page.capped and page.total == 5 and len(page.ids) == 3
