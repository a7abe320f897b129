"""Render a signable document (attendance of a period / month, a record extract) to PDF.

Vietnamese text in embedded TrueType fonts (DejaVu or Noto from the Debian font packages), the school's
header and the national motto, a table, a QR code carrying the verification URL (with the document id)
and one empty signature field per signer role, placed in a signature block after the table. The fields
are created before anything is signed, so each later signature only fills its own field (the change
DocMDP level 2 permits) and never invalidates the earlier ones.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import qrcode
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.doctemplate import LayoutError

from .errors import SignatureFailure

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/noto", "/usr/share/fonts/truetype")
FONT_FILES = {"regular": ("DejaVuSans.ttf", "NotoSans-Regular.ttf"),
              "bold": ("DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf")}


CELL_MAX_CHARS = 500  # the API refuses longer cells (schemas.py); the renderer clips whatever else reaches it
LINE_MAX_CHARS = 1000


class RenderError(SignatureFailure):
    """The document cannot be rendered (no font with Vietnamese glyphs, bad content): HTTP 422."""

    def __init__(self, message: str, code: str = "bad_input"):
        super().__init__(message, code)


def _text(value: object, limit: int) -> str:
    """User text for a Paragraph: clipped to `limit` characters and escaped (it is never ReportLab markup).
    Long words are split at the cell's edge (ParagraphStyle.splitLongWords), so nothing runs off the page."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text)


def find_font(weight: str = "regular", extra_dirs: tuple[str, ...] = ()) -> Path:
    """Path of a TrueType font with Vietnamese glyphs (Debian fonts-dejavu-core or fonts-noto-core)."""
    for directory in (*extra_dirs, *FONT_DIRS):
        for name in FONT_FILES[weight]:
            hits = sorted(Path(directory).rglob(name)) if Path(directory).is_dir() else []
            if hits:
                return hits[0]
    raise RenderError("Không tìm thấy phông chữ tiếng Việt (cài gói Debian fonts-dejavu-core hoặc fonts-noto-core).")


def _register_fonts() -> tuple[str, str]:
    if "VN-Regular" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("VN-Regular", str(find_font("regular"))))
        pdfmetrics.registerFont(TTFont("VN-Bold", str(find_font("bold"))))
    return "VN-Regular", "VN-Bold"


@dataclass(frozen=True)
class SignatureSlot:
    field_name: str  # PDF field name, e.g. "GiaoVien", "HieuTruong", "NhaTruong"
    role_label: str  # shown above the box, e.g. "Giáo viên chủ nhiệm"
    person: str = ""  # printed under the box (may be empty for the organisation)


@dataclass(frozen=True)
class SignableDocument:
    doc_id: str
    version: int
    title: str
    authority: str  # e.g. "SỞ GIÁO DỤC VÀ ĐÀO TẠO THÀNH PHỐ CẦN THƠ"
    school_name: str
    place_date: str  # e.g. "Sóc Trăng, ngày 30 tháng 9 năm 2025"
    info_lines: list[str]
    columns: list[str]
    rows: list[list[str]]
    verify_url: str
    slots: list[SignatureSlot]
    notes: list[str] = field(default_factory=list)
    col_widths: list[float] | None = None  # relative widths, one per column


class _SignatureBlock(Flowable):
    """Draws the role captions and records where each empty signature box lands on the page."""

    def __init__(self, slots: list[SignatureSlot], fonts: tuple[str, str], sink: list):
        super().__init__()
        self.slots, self.fonts, self.sink = slots, fonts, sink
        self.box_h = 22 * mm

    def wrap(self, avail_w, avail_h):
        self.width = avail_w
        rows = (len(self.slots) + 2) // 3
        self.height = rows * (self.box_h + 14 * mm)
        return self.width, self.height

    def draw(self):
        regular, bold = self.fonts
        col_w = self.width / 3
        for i, slot in enumerate(self.slots):
            row, col = divmod(i, 3)
            x = col * col_w
            top = self.height - row * (self.box_h + 14 * mm)
            self.canv.setFont(bold, 9)
            self.canv.drawCentredString(x + col_w / 2, top - 10, slot.role_label)
            self.canv.setFont(regular, 7)
            self.canv.drawCentredString(x + col_w / 2, top - 19, "(Ký số)")
            box_y = top - 21 - self.box_h
            if slot.person:
                self.canv.setFont(bold, 9)
                self.canv.drawCentredString(x + col_w / 2, box_y - 10, slot.person)
            ax, ay = self.canv.absolutePosition(x + 4, box_y)
            self.sink.append((slot.field_name, self.canv.getPageNumber() - 1,
                              (round(ax), round(ay), round(ax + col_w - 8), round(ay + self.box_h))))


class _QrCode(Flowable):
    """A vector QR code (black squares drawn on the canvas; no font, no raster)."""

    def __init__(self, text: str, size: float):
        super().__init__()
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
        code.add_data(text)
        code.make(fit=True)
        self.matrix = code.get_matrix()
        self.width = self.height = size

    def draw(self):
        n = len(self.matrix)
        cell = self.width / n
        self.canv.setFillColor(colors.black)
        for r, row in enumerate(self.matrix):
            for c, dark in enumerate(row):
                if dark:
                    self.canv.rect(c * cell, self.height - (r + 1) * cell, cell, cell, stroke=0, fill=1)


def _qr(url: str, size: float) -> _QrCode:
    return _QrCode(url, size)


def render_pdf(doc: SignableDocument) -> bytes:
    """Render ``doc`` and add its empty signature fields; returns the unsigned PDF."""
    if any(len(r) != len(doc.columns) for r in doc.rows):
        raise RenderError("Mỗi dòng của bảng phải có đúng số cột của tiêu đề.")
    if len({s.field_name for s in doc.slots}) != len(doc.slots):
        raise RenderError("Tên trường chữ ký bị trùng.")
    regular, bold = _register_fonts()
    st = {name: ParagraphStyle(name, fontName=font, fontSize=size, leading=size * 1.3, alignment=align)
          for name, font, size, align in [("hdr", bold, 10, 1), ("hdr2", regular, 10, 1), ("title", bold, 14, 1),
                                          ("body", regular, 10, 0), ("cell", regular, 8.5, 0),
                                          ("cellb", bold, 8.5, 1), ("small", regular, 8, 0), ("right", regular, 10, 2)]}
    out = io.BytesIO()
    page = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=12 * mm,
                             bottomMargin=15 * mm, title=doc.title, author=doc.school_name,
                             subject=f"Mã tài liệu {doc.doc_id} — phiên bản {doc.version}", creator="soctrang-edu",
                             initialFontName=regular)
    width = A4[0] - 30 * mm
    font_style = TableStyle([("FONTNAME", (0, 0), (-1, -1), regular)])  # no Helvetica anywhere
    header = Table([[Paragraph(_text(doc.authority, LINE_MAX_CHARS), st["hdr2"]),
                     Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st["hdr"])],
                    [Paragraph(_text(doc.school_name.upper(), LINE_MAX_CHARS), st["hdr"]),
                     Paragraph("Độc lập - Tự do - Hạnh phúc", st["hdr"])]],
                   colWidths=[width * 0.45, width * 0.55], style=font_style)
    story: list = [header, Spacer(1, 4 * mm), Paragraph(doc.place_date, st["right"]), Spacer(1, 4 * mm),
                   Paragraph(_text(doc.title, LINE_MAX_CHARS), st["title"]), Spacer(1, 3 * mm)]
    story += [Paragraph(_text(line, LINE_MAX_CHARS), st["body"]) for line in doc.info_lines]
    story.append(Spacer(1, 3 * mm))
    rel = doc.col_widths or [1.0] * len(doc.columns)
    widths = [width * w / sum(rel) for w in rel]
    data = [[Paragraph(_text(c, CELL_MAX_CHARS), st["cellb"]) for c in doc.columns]]
    data += [[Paragraph(_text(v, CELL_MAX_CHARS), st["cell"]) for v in row] for row in doc.rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), regular), ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                               ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [table, Spacer(1, 3 * mm)]
    story += [Paragraph(_text(n, LINE_MAX_CHARS), st["small"]) for n in doc.notes]
    qr_text = Paragraph(f"Mã tài liệu: <b>{doc.doc_id}</b> — phiên bản {doc.version}<br/>"
                        f"Kiểm tra chữ ký số tại: {doc.verify_url}", st["small"])
    story += [Spacer(1, 3 * mm), Table([[_qr(doc.verify_url, 24 * mm), qr_text]],
                                       colWidths=[27 * mm, width - 27 * mm], style=font_style)]
    placed: list = []
    story += [Spacer(1, 4 * mm), _SignatureBlock(doc.slots, (regular, bold), placed)]
    try:
        page.build(story)
    except LayoutError as exc:  # e.g. one row taller than a page
        raise RenderError("Nội dung bảng quá dài để trình bày trên trang A4; hãy rút gọn nội dung ô.") from exc
    writer = IncrementalPdfFileWriter(io.BytesIO(out.getvalue()))
    for name, page_ix, box in placed:
        append_signature_field(writer, SigFieldSpec(sig_field_name=name, on_page=page_ix, box=box))
    result = io.BytesIO()
    writer.write(result)
    return result.getvalue()
