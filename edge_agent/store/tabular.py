"""Read CSV/XLSX tables whose columns are found by header name (Vietnamese or English), with row numbers.

CSV encodings: UTF-16 (Excel's "Unicode text"), UTF-8 (with or without BOM), then Windows-1258 (Vietnamese
Windows); delimiter `,` `;` or tab. Messages are Vietnamese and name columns by their Vietnamese label.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path


class TableError(ValueError):
    """A table cannot be read; the message names the file (and row) and what to do."""


@dataclass(frozen=True)
class Row:
    number: int                 # 1-based line/row number in the file (the header is row 1)
    values: dict[str, str]      # canonical field -> stripped text ('' when empty)


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced form used to compare headers and enum values."""
    text = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return " ".join(text.lower().replace("_", " ").split())


def read_table(path: str | Path, columns: dict[str, tuple[str, ...]], required: set[str]) -> list[Row]:
    """Rows of a .csv or .xlsx file mapped to canonical field names through `columns` (field -> header aliases,
    the first one the Vietnamese label shown in messages).

    The header is the first row (of the first `HEADER_SEARCH_ROWS`) that names every required column, so a
    title row or a blank line above it (as in the MOET exports) is skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: không tìm thấy tệp (file not found)")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        raw_rows = _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        raw_rows = _xlsx_rows(path)
    else:
        raise TableError(f"{path}: không đọc được loại tệp {suffix!r}; dùng .csv hoặc .xlsx")
    raw_rows = [["" if c is None else c for c in r] for r in raw_rows]
    non_empty = [i for i, r in enumerate(raw_rows) if any(str(c).strip() for c in r)]
    if not non_empty:
        raise TableError(f"{path}: tệp không có dữ liệu (empty)")
    best: tuple[int, dict[str, int]] | None = None
    for at in non_empty[:HEADER_SEARCH_ROWS]:
        index = _match_header(raw_rows[at], columns)
        if required <= index.keys():
            best = (at, index)
            break
        if best is None or len(index) > len(best[1]):
            best = (at, index)
    header_at, index = best
    missing = [m for m in columns if m in required - index.keys()]
    if missing:
        names = ", ".join(f"'{columns[m][0]}'" for m in missing)
        found = ", ".join(str(c).strip() for c in raw_rows[header_at] if str(c).strip())
        raise TableError(f"{path}: thiếu cột {names} (missing columns). Dòng tiêu đề đã đọc (dòng {header_at + 1}): "
                         f"{found}")
    rows = []
    for offset, raw in enumerate(raw_rows[header_at + 1:], start=header_at + 2):
        if not any(str(c).strip() for c in raw):
            continue
        values = {f: (_cell(raw[i]) if i < len(raw) else "") for f, i in index.items()}
        rows.append(Row(offset, values))
    return rows


HEADER_SEARCH_ROWS = 20


def _match_header(cells: list, columns: dict[str, tuple[str, ...]]) -> dict[str, int]:
    header = [fold(c) for c in cells]
    index: dict[str, int] = {}
    for field, aliases in columns.items():
        wanted = {fold(a) for a in aliases}
        for i, name in enumerate(header):
            if name in wanted:
                index[field] = i
                break
    return index


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


def _decode(path: Path, data: bytes) -> str:
    """UTF-16 with a BOM (Excel's "Unicode text"), UTF-8 (with or without BOM), then Windows-1258."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    elif len(data) >= 4 and data[1:4:2] == b"\0\0" and data[0] and data[2]:
        encodings = ("utf-16-le",)        # UTF-16 without its BOM: every other byte of ASCII text is NUL
    else:
        encodings = ("utf-8-sig", "cp1258")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableError(f"{path}: không giải mã được tệp (encoding); lưu lại dưới dạng CSV UTF-8")


def _csv_rows(path: Path) -> list[list[str]]:
    text = unicodedata.normalize("NFC", _decode(path, path.read_bytes()))
    if "\0" in text:
        raise TableError(f"{path}: tệp chứa ký tự NUL (binary); lưu lại dưới dạng CSV UTF-8")
    return [row for row in csv.reader(io.StringIO(text), delimiter=_delimiter(text))]


def _delimiter(text: str) -> str:
    """The separator found on most of the first lines (a title line above the header has none)."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    return max(("\t", ";", ","), key=lambda d: (sum(d in ln for ln in lines), sum(ln.count(d) for ln in lines)))


def _xlsx_rows(path: Path) -> list[list]:
    try:
        # lazy: openpyxl loads only for .xlsx files
        from openpyxl import load_workbook
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise TableError(f"{path}: không đọc được sổ tính .xlsx ({type(exc).__name__}: {exc})") from exc
    try:
        sheet = book.worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
