"""CSV files of the offline allocation: applicants in, results and tie decisions out.

Applicants CSV columns (header names, any order): `id`, one column per plan subject (blank = missing
paper), `priority` and `prize` (codes, several separated by `;`), `nv1`..`nvN` (school codes), and the
optional `specialised` (chuyên class codes separated by `;`), the chuyên paper codes, `cancelled`
(1/0), `direct` (group code), `dtnt_eligible` (1/0), `ethnicity`, and `attr_<name>` numbers (e.g.
`attr_thcs_average`). Every bad row is reported with its line number; nothing is allocated then.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

from .allocation import AllocationResult
from .plan import AdmissionPlan
from .scoring import Applicant

TRUE, FALSE = {"1", "true", "yes", "x", "có"}, {"", "0", "false", "no", "không"}


class RowErrors(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        more = f" (+{len(errors) - 30} more)" if len(errors) > 30 else ""
        super().__init__("\n".join(errors[:30]) + more)


def parse_score(plan: AdmissionPlan, raw: str, column: str) -> float | None:
    """A paper score on the plan's scale and step; blank means missing. Raises ValueError with a clear text."""
    text = raw.strip().replace(",", ".")
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or value > plan.max_score_per_subject:
        raise ValueError(f"{column}: {raw!r} is outside 0-{plan.max_score_per_subject:g}")
    steps = value / plan.score_step
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"{column}: {raw!r} is not a multiple of {plan.score_step:g}")
    return value


def _flag(raw: str, column: str) -> bool:
    v = raw.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise ValueError(f"{column}: {raw!r} is not 1/0")


def read_applicants(plan: AdmissionPlan, source: str | Path | io.TextIOBase) -> list[Applicant]:
    """Applicants from a CSV file (UTF-8) or text stream. Every row must have exactly the header's fields;
    "line N" is the physical line where the row starts. Raises RowErrors listing every problem."""
    if isinstance(source, str | Path):
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RowErrors([f"tệp {source} không phải UTF-8 (byte lỗi ở vị trí {exc.start}): "
                             "hãy lưu lại dưới dạng CSV UTF-8"]) from None
        except OSError as exc:
            raise RowErrors([f"không đọc được tệp {source}: {exc.strerror or exc}"]) from None
        source = io.StringIO(text)
    reader = csv.reader(source)
    header_line, raw_header = _next_row(reader)
    if raw_header is None:
        raise RowErrors(["header: the file is empty"])
    header = [h.strip() for h in raw_header]
    dups = sorted({h for h in header if header.count(h) > 1})
    if dups:
        raise RowErrors([f"line {header_line}: duplicate column(s) {', '.join(repr(h) for h in dups)}"])
    if "" in header:
        raise RowErrors([f"line {header_line}: column {header.index('') + 1} has no name"])
    required = ["id", *plan.subject_codes, "nv1"]
    missing = [h for h in required if h not in header]
    if missing:
        raise RowErrors([f"header: missing column(s) {', '.join(missing)}"])
    papers = set(plan.subject_codes) | {c.paper for c in plan.specialised_classes()}
    schools = {s.code for s in plan.schools}
    classes = {c.code for c in plan.specialised_classes()}
    prio, prizes = {g.code for g in plan.priority_groups}, {g.code for g in plan.prizes}
    direct = {g.code for g in plan.direct_groups}
    out, errors, seen = [], [], {}
    while True:
        try:
            line, cells = _next_row(reader)
        except RowErrors as exc:  # an unreadable record: the reader cannot go on past it
            errors += exc.errors
            break
        if cells is None:
            break
        if len(cells) != len(header):
            errors.append(f"line {line}: {len(cells)} field(s), the header has {len(header)}")
            continue
        row = dict(zip(header, cells, strict=True))
        try:
            aid = row["id"].strip()
            if not aid:
                raise ValueError("id: empty")
            if aid in seen:
                raise ValueError(f"id: {aid!r} already on line {seen[aid]}")
            seen[aid] = line
            scores = {c: parse_score(plan, row[c], c) for c in papers if c in row}
            nvs = [row.get(f"nv{k}", "").strip() for k in range(1, plan.aspiration_count + 1)]
            extra = [h for h in row if h.startswith("nv") and h[2:].isdigit() and int(h[2:]) > plan.aspiration_count
                     and row[h].strip()]
            if extra:
                raise ValueError(f"{extra[0]}: the plan allows {plan.aspiration_count} aspirations")
            gap = next((j for j in range(1, len(nvs)) if nvs[j] and not nvs[j - 1]), None)
            if gap is not None:
                raise ValueError(f"nv{gap}: empty while nv{gap + 1} is filled (aspirations must be consecutive)")
            nvs = [n for n in nvs if n]
            for n in nvs:
                if n not in schools:
                    raise ValueError(f"aspiration: unknown school {n!r}")
            if len(set(nvs)) != len(nvs):
                raise ValueError("aspiration: the same school twice")
            spec = tuple(c for c in row.get("specialised", "").replace(",", ";").split(";") if c.strip())
            spec = tuple(c.strip() for c in spec)
            for c in spec:
                if c not in classes:
                    raise ValueError(f"specialised: unknown class {c!r}")
            pr = _codes(row.get("priority", ""), prio, "priority")
            pz = _codes(row.get("prize", ""), prizes, "prize")
            d = row.get("direct", "").strip() or None
            if d and d not in direct:
                raise ValueError(f"direct: unknown group {d!r}")
            attrs = {}
            for h, v in row.items():
                if h.startswith("attr_") and v.strip():
                    try:
                        attrs[h[5:]] = float(v.replace(",", "."))
                    except ValueError:
                        raise ValueError(f"{h}: {v!r} is not a number") from None
            out.append(Applicant(aid, scores, tuple(nvs), spec, pr, pz, _flag(row.get("cancelled", ""), "cancelled"),
                                 d, _flag(row.get("dtnt_eligible", ""), "dtnt_eligible"),
                                 row.get("ethnicity", "").strip(), attrs))
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        raise RowErrors(errors)
    return out


def _next_row(reader) -> tuple[int, list[str] | None]:
    """(physical line where the next non-blank record starts, its fields), or (line, None) at the end."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return start, None
        except csv.Error as exc:
            text = str(exc)
            if "field larger than field limit" in text:
                text = f"a field is longer than {csv.field_size_limit():,} characters"
            raise RowErrors([f"line {reader.line_num}: {text}"]) from None
        if cells:
            return start, cells


def _codes(raw: str, allowed: set[str], column: str) -> tuple[str, ...]:
    codes = tuple(c.strip() for c in raw.replace(",", ";").split(";") if c.strip())
    for c in codes:
        if c not in allowed:
            raise ValueError(f"{column}: unknown code {c!r}")
    return codes


def results_csv(res: AllocationResult, applicant_ids: Iterable[str]) -> str:
    """The result file's text: one row per applicant, in input order."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "admitted", "school", "stage", "aspiration", "final_score", "excluded_reason"])
    for aid in applicant_ids:
        a = res.admissions.get(aid)
        w.writerow([aid, a.unit if a else "none", a.school if a else "", a.stage if a else "",
                    a.aspiration if a else "", f"{res.scores[aid]:.2f}", res.excluded.get(aid, "")])
    return buf.getvalue()


def ties_csv(res: AllocationResult) -> str:
    """The tie file's text: one row per tie decision."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["unit", "stage", "aspiration", "id", "admitted", "criterion", "value", "tied_score",
                "seats", "tied"])
    for t in res.ties:
        w.writerow([t.unit, t.stage, t.aspiration, t.applicant_id, int(t.admitted), t.criterion,
                    "" if t.value is None else t.value, f"{t.tied_score:.2f}", t.seats, t.tied])
    return buf.getvalue()
