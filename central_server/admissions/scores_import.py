"""Exam scores from an Excel workbook, matched by header name (any column order), with a preview.

Headers: `Số báo danh` (or `SBD`), one column per paper named as in the plan (`Ngữ văn`, `Toán`, ...) or by
its code, chuyên papers by code, and optionally `Hủy kết quả` (1/x = cancelled). A blank cell or `V`/`vắng`
is an absent paper. Every bad row is listed (row number, column, reason); `commit` refuses a file with
any error, so a half-imported file never exists.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass, field

from openpyxl import load_workbook

from .csvio import parse_score
from .plan import AdmissionPlan

ABSENT = {"v", "vang", "vắng", "absent"}


def norm(text: object) -> str:
    s = unicodedata.normalize("NFD", str(text or "")).replace("đ", "d").replace("Đ", "D")
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    return "".join(ch for ch in s.lower() if ch.isalnum())


@dataclass
class ScoreRow:
    row: int
    candidate_no: str
    scores: dict[str, float | None]
    cancelled: bool


@dataclass
class Preview:
    rows: list[ScoreRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # paper code -> header found

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


def read_scores(plan: AdmissionPlan, data: bytes, known: set[str] | None = None) -> Preview:
    """Parse a workbook; `known` candidate numbers (if given) must contain every row's number."""
    out = Preview()
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        out.errors.append(f"Tệp không phải bảng tính Excel (.xlsx) hợp lệ: {type(exc).__name__}")
        return out
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        out.errors.append("Bảng tính trống.")
        return out
    index = {norm(h): i for i, h in enumerate(header) if h is not None}
    cno_col = next((index[k] for k in ("sobaodanh", "sbd") if k in index), None)
    if cno_col is None:
        out.errors.append("Thiếu cột 'Số báo danh'.")
    papers = {s.code: s.name for s in plan.subjects} | {c.paper: c.name for c in plan.specialised_classes()}
    cols: dict[str, int] = {}
    for code, name in papers.items():
        for key in (norm(name), norm(code)):
            if key in index:
                cols[code] = index[key]
                out.columns[code] = str(header[index[key]])
                break
    missing = [papers[c] for c in plan.subject_codes if c not in cols]
    if missing:
        out.errors.append(f"Thiếu cột điểm: {', '.join(missing)}.")
    cancel_col = next((index[k] for k in ("huyketqua", "huy") if k in index), None)
    if out.errors:
        return out
    seen: dict[str, int] = {}
    for r, values in enumerate(rows, start=2):
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        def cell(i, values=values):
            return values[i] if i is not None and i < len(values) else None
        cno = str(cell(cno_col) or "").strip()
        if isinstance(cell(cno_col), float) and cell(cno_col).is_integer():
            cno = str(int(cell(cno_col)))
        problems = []
        if not cno:
            problems.append("thiếu số báo danh")
        elif cno in seen:
            problems.append(f"số báo danh {cno} trùng với dòng {seen[cno]}")
        elif known is not None and cno not in known:
            problems.append(f"số báo danh {cno} không có trong danh sách thí sinh")
        seen.setdefault(cno, r)
        scores: dict[str, float | None] = {}
        for code, i in cols.items():
            raw = cell(i)
            if raw is None or norm(raw) in ABSENT or str(raw).strip() == "":
                scores[code] = None
                continue
            try:
                scores[code] = parse_score(plan, str(raw), papers[code])
            except ValueError as exc:
                problems.append(_vi(str(exc)))
        flag = norm(cell(cancel_col)) if cancel_col is not None else ""
        if flag not in ("", "0", "1", "x", "co", "khong"):
            problems.append(f"cột 'Hủy kết quả' không hợp lệ: {cell(cancel_col)!r}")
        if problems:
            out.errors.append(f"Dòng {r}: " + "; ".join(problems))
        else:
            out.rows.append(ScoreRow(r, cno, scores, flag in ("1", "x", "co")))
    if not out.rows and not out.errors:
        out.errors.append("Không có dòng điểm nào.")
    return out


def _vi(msg: str) -> str:
    return (msg.replace("is not a number", "không phải là số").replace("is outside", "nằm ngoài khoảng")
            .replace("is not a multiple of", "không phải bội số của"))
