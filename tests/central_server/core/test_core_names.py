"""Vietnamese collation and class-list order (central_server/core/names.py)."""

from __future__ import annotations

from central_server.core.names import collation_key, name_key, name_parts, sort_by_name


def test_vietnamese_alphabet_not_code_points():
    words = ["Trương", "Trần", "Đào", "Dương", "Ân", "Ăng", "An", "Ơn", "Ôn", "Uyên", "Ưng", "Zin", "Y"]
    assert sorted(words, key=collation_key) == ["An", "Ăng", "Ân", "Dương", "Đào", "Ôn", "Ơn", "Trần", "Trương",
                                                "Uyên", "Ưng", "Y", "Zin"]
    assert sorted(["Trương", "Trần"]) == ["Trương", "Trần"]  # what Python's own order gets wrong


def test_tones_only_break_ties_in_dictionary_order():
    # ngang, huyền, hỏi, ngã, sắc, nặng
    assert sorted(["Mạ", "Má", "Mã", "Mả", "Mà", "Ma"], key=collation_key) == ["Ma", "Mà", "Mả", "Mã", "Má", "Mạ"]
    assert sorted(["Hà", "Hai"], key=collation_key) == ["Hà", "Hai"]  # letters first: "hà" < "hai"
    # a decomposed (NFD) spelling sorts like the composed one
    import unicodedata

    assert collation_key(unicodedata.normalize("NFD", "Trần"))[:2] == collation_key("Trần")[:2]


def test_name_parts_and_class_list_order():
    assert name_parts("Nguyễn Thị Minh Khai") == ("Nguyễn", "Thị Minh", "Khai")
    assert name_parts("Sơn") == ("", "", "Sơn")
    names = ["Trương Văn An", "Trần Văn An", "Lê Thị Bình", "Nguyễn An", "Danh Sa Rây", "Thạch Thị Ân",
             "Lê Văn Đức", "Lê Văn Dũng"]
    assert [n for n in sort_by_name(names, name=lambda n: n)] == [
        "Nguyễn An", "Trần Văn An", "Trương Văn An", "Thạch Thị Ân", "Lê Thị Bình", "Lê Văn Dũng", "Lê Văn Đức",
        "Danh Sa Rây"]
    assert name_key(None) == name_key("")
