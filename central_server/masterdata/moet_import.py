"""Reading the MOET education database's Excel exports by header name — the part every import shares.

A `Template` names the columns of one export (students: `moet_students.py`, teachers: `moet_teachers.py`):
`parse_workbook(bytes, template)` finds the header row by the column titles (not their position, below any
title rows), reads every data row and validates it into a `ParsedRow` (errors in Vietnamese). An `Importer`
adds the two steps that need the database: `preview` classifies every row as new / updated / moved /
unchanged / invalid, `apply` writes the rows that are not invalid (the workflow is in `imports.py`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from central_server.core.clock import local_today
from central_server.core.uploads import UploadLimits, UploadRejected, Workbook

MAX_ROWS = 20_000
LIMITS = UploadLimits(max_bytes=64 * 1024 * 1024, max_rows=MAX_ROWS, max_row_index=MAX_ROWS + 5_000,
                      max_columns=200, max_cell_chars=4_000)
HEADER_SCAN_ROWS = 25
KINDS = ("new", "updated", "moved", "unchanged", "invalid")
GENDERS = {"nam": "Nam", "nữ": "Nữ", "nu": "Nữ"}


class ImportFileError(UploadRejected):
    """The file as a whole cannot be read (not Excel, no header row, too many rows, a bomb); message in Vietnamese,
    `status` the HTTP status (413 for size, 422 otherwise)."""


def norm_header(value: Any) -> str:
    """A column title as compared: NFC, lower case, no "(*)" or other parenthesised note, single spaces."""
    text = unicodedata.normalize("NFC", str(value or "")).lower()
    text = re.sub(r"\([^)]*\)|\*", " ", text)
    return re.sub(r"\s+", " ", text).strip(" :.")


def fold(text: str) -> str:
    """`text` without Vietnamese diacritics ("Mã trường" -> "ma truong"), for titles typed without accents."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass
class ParsedRow:
    row_number: int
    values: dict[str, Any]
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Template:
    """The columns of one MOET export: canonical field -> accepted titles (as `norm_header` writes them)."""

    name: str
    headers: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    labels: dict[str, str]
    validate: Callable[[int, dict[str, Any]], ParsedRow]

    @cached_property
    def lookup(self) -> dict[str, str]:
        """Exact titles first, then the same titles without diacritics; an ambiguous title is a bug here."""
        exact = {alias: key for key, aliases in self.headers.items() for alias in aliases}
        folded: dict[str, str] = {}
        for alias, key in exact.items():
            if folded.setdefault(fold(alias), key) != key:
                raise ValueError(f"{self.name}: title {alias!r} is ambiguous without diacritics")
        return {**folded, **exact}

    def key_of(self, cell: Any) -> str | None:
        title = norm_header(cell)
        return self.lookup.get(title) or self.lookup.get(fold(title))


def _find_header(rows: list[tuple[int, tuple]], template: Template) -> tuple[int, dict[str, int]] | None:
    """(row number of the header, field -> column index) in the (row number, values) `rows`, or None."""
    for index, row in rows:
        columns: dict[str, int] = {}
        for col, cell in enumerate(row):
            key = template.key_of(cell)
            if key and key not in columns:
                columns[key] = col
        if all(k in columns for k in template.required):
            return index, columns
    return None


def parse_workbook(data: bytes, template: Template, limits: UploadLimits = LIMITS) -> list[ParsedRow]:
    """Rows of the first sheet that has the required headers; ImportFileError for an unreadable or hostile file
    (every read is bounded: core/uploads.py)."""
    raw_rows = None
    try:
        with Workbook(data, limits) as wb:
            for ws in wb.sheets():
                head = list(wb.rows(ws, 1, HEADER_SCAN_ROWS))
                found = _find_header(head, template)
                if found is not None:
                    header_number, columns = found
                    raw_rows = [(number, {key: (row[col] if col < len(row) else None) for key, col in columns.items()})
                                for number, row in wb.rows(ws, header_number + 1)]
                    break
    except UploadRejected as exc:
        raise ImportFileError(str(exc), exc.status) from None
    if raw_rows is None:
        missing = ", ".join(template.labels[k] for k in template.required)
        raise ImportFileError(f"Không tìm thấy dòng tiêu đề có các cột bắt buộc: {missing}.")
    return [template.validate(number, raw) for number, raw in raw_rows]


# ---------------------------------------------------------------- cells shared by every template
def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def personal_id(value: Any, errors: list[str]) -> str:
    """The 12-digit số định danh cá nhân (CCCD); a number-formatted cell gets its leading zeros back."""
    pid = text(value).replace(" ", "")
    if isinstance(value, int | float) and pid.isdigit() and len(pid) < 12:
        pid = pid.zfill(12)  # Excel dropped the leading zero of a number-formatted id
    if not re.fullmatch(r"[0-9]{12}", pid):
        errors.append("Số định danh cá nhân phải gồm đúng 12 chữ số.")
    return pid


def full_name(value: Any, errors: list[str]) -> str:
    name = re.sub(r"\s+", " ", text(value))
    if not name:
        errors.append("Thiếu họ tên.")
    elif len(name) > 200 or any(ch in name for ch in "<>;{}=") or any(ch.isdigit() for ch in name):
        errors.append("Họ tên không hợp lệ.")
    return name


def gender(value: Any, errors: list[str]) -> str:
    given = text(value)
    found = GENDERS.get(given.lower(), None if given else "")
    if found is None:
        errors.append("Giới tính phải là Nam hoặc Nữ.")
    return found or ""


def birth_date(value: Any, errors: list[str], earliest: dt.date) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.datetime.strptime(text(value), "%d/%m/%Y").date()
        except ValueError:
            errors.append("Ngày sinh phải có dạng dd/mm/yyyy.")
            return None
    if not earliest <= day <= local_today():
        errors.append("Ngày sinh nằm ngoài khoảng hợp lệ.")
        return None
    return day


def mark_duplicates(rows: list[ParsedRow], key: str, message: str) -> None:
    """A later row repeating `key` of an earlier one becomes invalid: `message` names that row ({row})."""
    seen: dict[str, int] = {}
    for r in rows:
        value = r.values.get(key)
        if not value:
            continue
        if value in seen and not r.errors:
            r.errors.append(message.format(row=seen[value]))
        seen.setdefault(value, r.row_number)


# ---------------------------------------------------------------- preview rows and importers
@dataclass
class PreviewRow:
    row_number: int
    kind: str  # new | updated | moved | unchanged | invalid
    personal_id: str
    full_name: str
    errors: list[str]
    changes: dict[str, list[Any]]  # field -> [old, new]
    from_school: str | None = None


def plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def summarise(rows: list[PreviewRow]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for r in rows:
        counts[r.kind] += 1
    return counts


@dataclass(frozen=True)
class Importer:
    """One kind of MOET import. `preview(session, school, school_year, rows, actor)` judges each row (a person held
    by another school is refused unless `access.may_take_from_other_school`);
    `apply(session, school, school_year, rows, preview, today=, province_code=)`
    writes the rows whose preview is not invalid; `all_or_nothing` refuses the whole file while any row is."""

    kind: str
    template: Template
    preview: Callable[..., list[PreviewRow]]
    apply: Callable[..., dict[str, int]]
    all_or_nothing: bool
