"""The province report as an Excel workbook in the layout of the MOET statistical report forms (Circular
25/2024/TT-BGDĐT): the reporting unit and national motto at the top, the title and period, a table with
numbered columns, the total row, the preparer's and the head's signature blocks. Values come from the tiles."""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.masterdata.tables import School

from .tables import IocTile
from .tiles import PROVINCE, scope_of

COLUMNS = [("STT", None, "int"), ("Mã trường", None, "text"), ("Tên trường", None, "text"),
           ("Số lớp", "classes", "int"), ("Số học sinh", "students", "int"),
           ("Bình quân HS/lớp", "students_per_class", "dec"), ("Số giáo viên", "teachers", "int"),
           ("Tỉ lệ chuyên cần tháng (%)", "rate_month", "pct"), ("Vắng có phép tháng (%)", "p_rate_month", "pct"),
           ("Vắng không phép tháng (%)", "k_rate_month", "pct"), ("HS vắng từ 30 buổi", "absent_30", "int"),
           ("HS vắng từ 40 buổi", "absent_40", "int"), ("HS vắng quá 45 buổi", "absent_over_limit", "int"),
           ("HS nguy cơ bỏ học (vắng liên tục)", "dropout_streak", "int")]
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def text(value: str) -> str:
    """A name as a cell: control characters Excel refuses are dropped, and a leading = + - @ cannot start a
    formula (the names come from imported files)."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _value(v: float | None, fmt: str):
    if v is None:
        return None
    if fmt == "pct":
        return round(v * 100, 1)
    if fmt == "dec":
        return round(v, 1)
    return int(v)


def province_report(session: Session, school_ids: set[int] | None, unit: str, day: dt.date) -> bytes:
    q = select(School).where(School.active).order_by(School.code)
    if school_ids is not None:
        q = q.where(School.id.in_(school_ids))
    schools = list(session.scalars(q))
    values = {(t.scope, t.key): t.value for t in session.scalars(select(IocTile))}
    wb = Workbook()
    ws = wb.active
    ws.title = "Bieu_THPT"
    last = get_column_letter(len(COLUMNS))
    ws.merge_cells("A1:F1")
    ws["A1"] = text(unit.upper())
    ws.merge_cells(f"H1:{last}1")
    ws["H1"] = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    ws.merge_cells(f"H2:{last}2")
    ws["H2"] = "Độc lập - Tự do - Hạnh phúc"
    ws.merge_cells(f"A4:{last}4")
    ws["A4"] = "BÁO CÁO THỐNG KÊ GIÁO DỤC TRUNG HỌC PHỔ THÔNG"
    ws.merge_cells(f"A5:{last}5")
    ws["A5"] = f"Số liệu đến ngày {day:%d/%m/%Y} (theo hệ thống chỉ tiêu thống kê Thông tư 03/2024/TT-BGDĐT)"
    for cell in ("A1", "H1", "H2", "A4"):
        ws[cell].font = Font(bold=True)
    for cell in ("A1", "H1", "H2", "A4", "A5"):
        ws[cell].alignment = Alignment(horizontal="center")
    header, numbers = 7, 8
    for i, (title, _, _) in enumerate(COLUMNS, start=1):
        c = ws.cell(header, i, title)
        c.font, c.border = Font(bold=True), BOX
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        n = ws.cell(numbers, i, f"({i})")
        n.alignment, n.border = Alignment(horizontal="center"), BOX
        ws.column_dimensions[get_column_letter(i)].width = 34 if i == 3 else 13
    ws.row_dimensions[header].height = 48
    row = numbers + 1
    for k, s in enumerate(schools, start=1):
        scope = scope_of(s.id)
        cells = [k, text(s.code), text(s.name)] + [_value(values.get((scope, key)), fmt) for _, key, fmt in COLUMNS[3:]]
        for i, v in enumerate(cells, start=1):
            ws.cell(row, i, v).border = BOX
        row += 1
    total_scope = PROVINCE if school_ids is None else scope_of(next(iter(school_ids)))
    cells = ["", "", "Tổng cộng"] + [_value(values.get((total_scope, key)), fmt) for _, key, fmt in COLUMNS[3:]]
    for i, v in enumerate(cells, start=1):
        c = ws.cell(row, i, v)
        c.font, c.border = Font(bold=True), BOX
    row += 2
    ws.cell(row, 2, "NGƯỜI LẬP BIỂU").font = Font(bold=True)
    ws.cell(row, 10, "THỦ TRƯỞNG ĐƠN VỊ").font = Font(bold=True)
    ws.cell(row + 1, 2, "(Ký, ghi rõ họ tên)")
    ws.cell(row + 1, 10, "(Ký tên, đóng dấu)")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
