"""Exam scores from an Excel workbook, matched by header name (any column order), with a preview.

Headers: `Số báo danh` (or `SBD`), one column per paper named as in the plan (`Ngữ văn`, `Toán`, ...) or by
its code, chuyên papers by code, and optionally `Hủy kết quả` (1/x = cancelled). A blank cell or `V`/`vắng`
is an absent paper. Every bad row is listed (row number, column, reason); `commit` refuses a file with
any error, so a half-imported file never exists.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from central_server.core.uploads import UploadLimits, UploadRejected, Workbook

from .csvio import parse_score
from .plan import AdmissionPlan

ABSENT = {"v", "vang", "vắng", "absent"}
# every read bounded (core/uploads.py): a province sits ~20k candidates; the upload itself is limited by the app
LIMITS = UploadLimits(max_bytes=64 * 1024 * 1024, max_rows=60_000, max_row_index=65_000, max_columns=100,
                      max_cell_chars=1_000)


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
    """Parse a workbook; `known` candidate numbers (if given) must contain every row's number. A hostile or
    corrupt file is one error (nothing of it is kept)."""
    out = Preview()
    try:
        with Workbook(data, LIMITS) as wb:
            sheets = wb.sheets()
            rows = wb.rows(sheets[0]) if sheets else iter(())
            first = next(rows, None)
            if first is None:
                out.errors.append("Bảng tính trống.")
                return out
            _read(plan, first[1], rows, known, out)
    except UploadRejected as exc:
        out.rows.clear()
        out.errors.append(str(exc))
    return out


def _read(plan: AdmissionPlan, header: tuple, rows, known: set[str] | None, out: Preview) -> None:
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
        return
    seen: dict[str, int] = {}
    for r, values in rows:
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


def _vi(msg: str) -> str:
    return (msg.replace("is not a number", "không phải là số").replace("is outside", "nằm ngoài khoảng")
            .replace("is not a multiple of", "không phải bội số của"))
