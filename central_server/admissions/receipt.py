"""The registration receipt: a PDF (Vietnamese text, DejaVu font) with a QR code of the verification URL."""

from __future__ import annotations

import io
from pathlib import Path

import segno
from fpdf import FPDF

from .plan import AdmissionPlan
from .tables import AdmApplication

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]


def _font() -> Path | None:
    for d in FONT_DIRS:
        if (d / "DejaVuSans.ttf").exists():
            return d / "DejaVuSans.ttf"
    return None


def verify_url(base: str, app: AdmApplication) -> str:
    return f"{base.rstrip('/')}/tuyen-sinh/xac-minh/{app.receipt_code}"


def receipt_pdf(plan: AdmissionPlan, app: AdmApplication, base_url: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.add_page()
    font = _font()
    if font:
        pdf.add_font("DejaVu", "", str(font))
        pdf.set_font("DejaVu", size=12)
    else:  # no Unicode font: still a valid receipt, text without diacritics is not attempted
        pdf.set_font("Helvetica", size=12)
    names = {s.code: s.name for s in plan.schools}
    lines = [f"PHIẾU BIÊN NHẬN ĐĂNG KÝ TUYỂN SINH LỚP 10 NĂM {plan.year}",
             f"Họ và tên: {app.full_name}", f"Ngày sinh: {app.dob:%d/%m/%Y}",
             f"Số định danh: ********{app.personal_id[-4:]}", f"Trường THCS: {app.lower_secondary}",
             f"Kênh đăng ký: {'trực tuyến' if app.channel == 'online' else 'hỗ trợ tại điểm tiếp nhận'}",
             *[f"Nguyện vọng {k}: {names.get(c, c)}" for k, c in enumerate(app.aspirations or [], start=1)],
             f"Cập nhật lần cuối: {app.updated_at:%d/%m/%Y %H:%M} (UTC)", f"Mã biên nhận: {app.receipt_code}"]
    for line in lines:
        if not font:
            line = line.encode("latin-1", "replace").decode("latin-1")
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    png = io.BytesIO()
    segno.make(verify_url(base_url, app), error="m").save(png, kind="png", scale=5, border=2)
    png.seek(0)
    pdf.image(png, x=150, y=10, w=45)
    return bytes(pdf.output())
