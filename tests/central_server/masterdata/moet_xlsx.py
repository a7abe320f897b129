"""MOET-style Excel exports for the import tests: title rows above the header row, then the data rows."""

from __future__ import annotations

import io

from openpyxl import Workbook


def moet_workbook(rows, head: list[str], sheet: str, title: str, title_rows: int) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for i in range(title_rows):
        ws.append([f"{title} ({i})"])
    ws.append(head)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
