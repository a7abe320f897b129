"""Accent folding for Vietnamese search: "Lịch sử" and "lich su" fold to the same tokens.

Only the Latin combining marks (U+0300-U+036F) are removed after NFD, plus đ/Đ -> d, so Khmer vowel
signs (which are also combining marks) survive and Khmer text stays searchable as written.
"""

from __future__ import annotations

import re
import unicodedata

_LATIN_MARKS = re.compile("[\u0300-\u036f]")
_DD = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def fold(text: str) -> str:
    """Lower-case, strip Vietnamese/Latin diacritics, map đ to d; returns NFC text."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", text.translate(_DD))
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", decomposed)).translate(_DD).casefold()


def tokens(text: str) -> list[str]:
    """Folded word tokens: runs of letters/digits with their combining marks (Khmer words stay whole)."""
    out: list[str] = []
    current: list[str] = []
    for ch in fold(text):
        if ch.isalnum() or (current and unicodedata.category(ch)[0] == "M"):
            current.append(ch)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out
