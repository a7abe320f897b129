"""Hostile uploads built on the spot: a sparse-dimension .xlsx, a whitespace bomb, a zip bomb, a corrupt sheet."""

from __future__ import annotations

import io
import re
import zipfile

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _replace_sheet(data: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == SHEET:
                body = edit(body)
            dst.writestr(info.filename, body)
    return out.getvalue()


def sparse_dimension(header: list[str], far_row: int = 1_048_576) -> bytes:
    """A few KB: the sheet declares A1:XFD1048576 and holds values at A and XFD of row `far_row` (1,048,576)."""
    def edit(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)
        far = (f'<row r="{far_row}"><c r="A{far_row}" t="inlineStr"><is><t>x</t></is></c>'
               f'<c r="XFD{far_row}" t="inlineStr"><is><t>y</t></is></c></row>').encode()
        return xml.replace(b"</sheetData>", far + b"</sheetData>")
    return _replace_sheet(_xlsx([header]), edit)


def whitespace_bomb(header: list[str], megabytes: int = 500) -> bytes:
    """About 0.5 MB that inflates to `megabytes` MB of whitespace inside the sheet XML."""
    pad = b" " * (megabytes * 1024 * 1024)
    return _replace_sheet(_xlsx([header]), lambda xml: xml.replace(b"</sheetData>", pad + b"</sheetData>"))


def zip_bomb(megabytes: int = 1024) -> bytes:
    """A zip with one member of `megabytes` MB of zeros (about 1 MB on disk per GB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(megabytes):
                member.write(block)
    return out.getvalue()


def corrupt_sheet(header: list[str], row: list) -> bytes:
    """A valid package whose sheet XML is cut in the middle of the data (read lazily: the error comes late)."""
    data = _xlsx([header, row, row])
    return _replace_sheet(data, lambda xml: xml[: xml.rindex(b"<row")] + b"<row r=\"9\"><c r=\"A9\"><v>1")
