"""The school subject (vocab.SUBJECTS code) of an imported library title, from its subject headings and DDC.

A Koha record carries no GDPT subject, so an imported title would otherwise land in `khac`. Headings
(650/653 $a) are tried first: a heading that names a subject, or local history/geography of the province
(giáo dục địa phương); then the DDC 23 class number (082 $a), most specific range first.
"""

from __future__ import annotations

from .textfold import tokens
from .vocab import SUBJECTS

# folded words in a heading -> subject; checked in order, so the specific ones come first
_HEADING_WORDS: tuple[tuple[str, str], ...] = (
    ("dia phuong", "dia-phuong"), ("soc trang", "dia-phuong"), ("can tho", "dia-phuong"),
    ("khmer", "tieng-khmer"), ("quoc phong", "gdqpan"), ("an ninh", "gdqpan"),
    ("kinh te", "gdktpl"), ("phap luat", "gdktpl"), ("trai nghiem", "hdtn"), ("huong nghiep", "hdtn"),
    ("the duc", "gdtc"), ("the thao", "gdtc"), ("tin hoc", "tin-hoc"), ("lap trinh", "tin-hoc"),
    ("van hoc", "ngu-van"), ("tieng viet", "ngu-van"), ("tieng anh", "tieng-anh"), ("toan hoc", "toan"),
    ("vat li", "vat-li"), ("vat ly", "vat-li"), ("hoa hoc", "hoa-hoc"), ("sinh hoc", "sinh-hoc"),
    ("cong nghe", "cong-nghe"), ("lich su", "lich-su"), ("dia li", "dia-li"), ("dia ly", "dia-li"),
    ("am nhac", "am-nhac"), ("mi thuat", "mi-thuat"), ("my thuat", "mi-thuat"),
)
_LABELS = {" ".join(tokens(label)): code for code, label in SUBJECTS.items() if code != "khac"}

# DDC class-number prefixes -> subject, longest prefix wins
_DDC: dict[str, str] = {
    "004": "tin-hoc", "005": "tin-hoc", "006": "tin-hoc",
    "33": "gdktpl", "34": "gdktpl", "355": "gdqpan", "356": "gdqpan", "357": "gdqpan", "358": "gdqpan",
    "371.42": "hdtn",
    "42": "tieng-anh", "495.922": "ngu-van", "495.93": "tieng-khmer",
    "51": "toan", "53": "vat-li", "54": "hoa-hoc", "57": "sinh-hoc", "58": "sinh-hoc", "59": "sinh-hoc",
    "6": "cong-nghe", "7": "mi-thuat", "78": "am-nhac", "79": "gdtc", "791": "khac", "792": "khac",
    "80": "ngu-van", "81": "ngu-van", "82": "ngu-van", "83": "ngu-van", "84": "ngu-van", "85": "ngu-van",
    "86": "ngu-van", "87": "ngu-van", "88": "ngu-van", "89": "ngu-van",
    "90": "lich-su", "93": "lich-su", "94": "lich-su", "95": "lich-su", "96": "lich-su", "97": "lich-su",
    "98": "lich-su", "99": "lich-su", "91": "dia-li",
}


def subject_of(headings: list[str], ddc: str) -> str:
    """A vocab.SUBJECTS code; `khac` when neither the headings nor the class number say more."""
    for heading in headings:
        words = " ".join(tokens(heading))
        if words in _LABELS:
            return _LABELS[words]
        for phrase, code in _HEADING_WORDS:  # whole words only: "an toàn" is not "toán"
            if f" {phrase} " in f" {words} ":
                return code
    number = ddc.strip().replace("/", "").replace("'", "")
    for size in range(len(number), 0, -1):
        code = _DDC.get(number[:size])
        if code:
            return code
    return "khac"
