"""Read CSV/XLSX tables whose columns are found by header name (Vietnamese or English), with row numbers.

CSV encodings: UTF-8 (with or without BOM), then Windows-1258 (Vietnamese Windows); delimiter `,` `;` or tab.
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
    """Rows of a .csv or .xlsx file mapped to canonical field names through `columns` (field -> header aliases)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw_rows = _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        raw_rows = _xlsx_rows(path)
    else:
        raise TableError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")
    header_at = next((i for i, r in enumerate(raw_rows) if any(str(c).strip() for c in r)), None)
    if header_at is None:
        raise TableError(f"{path}: the file is empty")
    header = [fold(c) for c in raw_rows[header_at]]
    index: dict[str, int] = {}
    for field, aliases in columns.items():
        wanted = {fold(a) for a in aliases}
        for i, name in enumerate(header):
            if name in wanted:
                index[field] = i
                break
    missing = sorted(required - index.keys())
    if missing:
        names = "; ".join(f"{m} (e.g. '{columns[m][0]}')" for m in missing)
        raise TableError(f"{path}: missing column(s): {names}. Found headers: {', '.join(raw_rows[header_at])}")
    rows = []
    for offset, raw in enumerate(raw_rows[header_at + 1:], start=header_at + 2):
        if not any(str(c).strip() for c in raw):
            continue
        values = {f: (_cell(raw[i]) if i < len(raw) else "") for f, i in index.items()}
        rows.append(Row(offset, values))
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


def _csv_rows(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1258"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1258 decodes almost anything
        raise TableError(f"{path}: cannot decode the file; save it as UTF-8 CSV")
    text = unicodedata.normalize("NFC", text)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect)]


def _xlsx_rows(path: Path) -> list[list]:
    try:
        # lazy: openpyxl loads only for .xlsx files
        from openpyxl import load_workbook
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise TableError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    try:
        sheet = book.worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
