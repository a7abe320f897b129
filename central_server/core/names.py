"""Vietnamese names: collation and the order of a class list, one definition for every page and export.

Vietnamese alphabetical order is a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y (f j w z of borrowed
words after their neighbours); tone marks only break ties, in the order ngang, huyền, hỏi, ngã, sắc, nặng.
Python's code-point order gets this wrong ("Trương" before "Trần", "Đ" after "Z"), and PostgreSQL and SQLite have no
Vietnamese collation, so lists are sorted in Python with `name_key` / `sort_by_name`.

A list of people is ordered as Vietnamese schools do: by given name (the last word), then the middle name(s),
then the family name (the first word).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
# tone marks in their dictionary order (no mark first)
TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_LETTER_OFFSET = 1_000  # digits, spaces and punctuation sort before letters; other scripts after them


def collation_key(text: str) -> tuple:
    """A sort key for `text` in Vietnamese order: letters first, then tones, then case, then the text itself."""
    letters: list[int] = []
    tones: list[int] = []
    for ch in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", ch.lower())
        tone = 0
        base = ""
        for part in decomposed:
            if part in TONES:
                tone = TONES[part]
            else:
                base += part
        base = unicodedata.normalize("NFC", base)
        if base in ALPHABET and base:
            letters.append(_LETTER_OFFSET + ALPHABET.index(base))
        elif len(base) == 1 and not base.isalpha():
            letters.append(ord(base))
        else:
            letters.append(_LETTER_OFFSET + len(ALPHABET) + sum(map(ord, base)))
        tones.append(tone)
    return tuple(letters), tuple(tones), tuple(ch.islower() for ch in text), text


def name_parts(full_name: str) -> tuple[str, str, str]:
    """(family, middle, given) of a Vietnamese full name; a one-word name is a given name."""
    words = full_name.split()
    if not words:
        return "", "", ""
    if len(words) == 1:
        return "", "", words[0]
    return words[0], " ".join(words[1:-1]), words[-1]


def name_key(full_name: str | None) -> tuple:
    """Sort key of a person's name: given name, then middle name, then family name, each in Vietnamese order."""
    family, middle, given = name_parts(full_name or "")
    return collation_key(given), collation_key(middle), collation_key(family), collation_key(full_name or "")


def sort_by_name(items: Iterable[T], name: Callable[[T], str | None] = lambda x: x.full_name) -> list[T]:
    """`items` ordered by `name_key` of `name(item)` (a stable sort: equal names keep their order)."""
    return sorted(items, key=lambda x: name_key(name(x)))
