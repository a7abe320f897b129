"""The admission plan edited through a form: schools, subjects and bonus groups as tables, rules as fields, the
rest of the plan as JSON; import from a JSON or TOML file into the form, export as JSON or TOML.

The form's state is a flat dict of what was typed (`form_from_doc` / `doc_from_form`), so a plan that does not
validate comes back with everything as typed and the problems in Vietnamese, each naming its field."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from typing import Annotated
from zoneinfo import ZoneInfo

import tomli_w
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.auth import require_roles
from central_server.core.db import get_session
from central_server.core.params import RowId
from central_server.core.templating import templates

from .plan import AdmissionPlan, PlanError
from .plan_errors import rule_message, vietnamese
from .service import save_plan
from .tables import AdmPlan

router = APIRouter(prefix="/admissions", include_in_schema=False)
DB = Annotated[Session, Depends(get_session)]
ADMIN = Depends(require_roles("province_admin"))
READERS = Depends(require_roles("province_admin", "province_staff", "school_admin"))
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_KEYS = ["registration_open", "registration_close", "change_open", "change_close", "exam_start", "exam_end",
             "publication"]
TABLES = {  # form table -> (plan key, columns)
    "school": ("schools", ["code", "name", "quota", "kind"]),
    "subject": ("subjects", ["code", "name", "minutes", "role"]),
    "priority": ("priority_groups", ["code", "label", "points"]),
    "prize": ("prizes", ["code", "label", "points"]),
}
FIELDS = ["year", "method", "aspiration_count", "tie_exhausted", "priority_combine", "prize_combine"]
BLANK_ROWS = 3
CHOICE_COLUMNS = {"kind", "role"}


def _local(value: str) -> str:
    try:
        return dt.datetime.fromisoformat(value).astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
    except (TypeError, ValueError):
        return str(value or "")


def _text(value) -> str:
    """A value as the form shows it: no "None", whole floats without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def form_from_doc(doc: dict) -> dict:
    """What the form shows for a plan document."""
    rest = {k: v for k, v in doc.items() if k not in {*FIELDS, *(t[0] for t in TABLES.values()), "dates",
                                                     "aspiration_rule", "direct_in_quota"}}
    specialised = {s["code"]: s["specialised_classes"] for s in doc.get("schools", []) if s.get("specialised_classes")}
    if specialised:
        rest["specialised_classes"] = specialised
    rule = doc.get("aspiration_rule") or {}
    return {
        **{k: _text(doc.get(k)) for k in FIELDS},
        "rule_kind": rule.get("kind", "offsets"), "offsets": ", ".join(_text(o) for o in rule.get("offsets", [])),
        "direct_in_quota": bool(doc.get("direct_in_quota", True)),
        "dates": {k: _local((doc.get("dates") or {}).get(k, "")) for k in DATE_KEYS},
        "tables": {name: [{c: _text(row.get(c)) for c in cols}
                          for row in doc.get(key, [])] for name, (key, cols) in TABLES.items()},
        "rest": json.dumps(rest, ensure_ascii=False, indent=2),
    }


def _number(text: str):
    """A typed number as a number when it is one, else the text (the plan's validation then names the field)."""
    text = text.strip().replace(",", ".")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


async def form_state(request: Request) -> dict:
    """The form's state from a submitted form, exactly as typed."""
    data = await request.form()
    tables = {}
    for name, (_key, cols) in TABLES.items():
        columns = {c: [str(v) for v in data.getlist(f"{name}_{c}")] for c in cols}
        rows = [{c: columns[c][i] if i < len(columns[c]) else "" for c in cols}
                for i in range(max(len(v) for v in columns.values()))]
        # a row is blank when nothing was typed in it (its drop-down lists always hold a value)
        tables[name] = [r for r in rows if any(v.strip() for c, v in r.items() if c not in CHOICE_COLUMNS)]
    return {**{k: str(data.get(k, "")) for k in FIELDS}, "rule_kind": str(data.get("rule_kind", "offsets")),
            "offsets": str(data.get("offsets", "")), "direct_in_quota": data.get("direct_in_quota") == "1",
            "dates": {k: str(data.get(f"date_{k}", "")) for k in DATE_KEYS}, "tables": tables,
            "rest": str(data.get("rest", "") or "{}"), "note": str(data.get("note", ""))}


def doc_from_form(form: dict) -> tuple[dict, list[str]]:
    """(the plan document, problems found before validation) from the form's state."""
    errors: list[str] = []
    try:
        rest = json.loads(form["rest"] or "{}")
        if not isinstance(rest, dict):
            raise ValueError
    except (json.JSONDecodeError, ValueError) as exc:
        where = f" (dòng {exc.lineno}, cột {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        errors.append(f"Các quy định khác (JSON): không phải JSON hợp lệ{where}.")
        rest = {}
    specialised = rest.pop("specialised_classes", {}) or {}
    doc = {**rest, **{k: _number(form[k]) if k in ("year", "aspiration_count") else form[k] for k in FIELDS}}
    offsets = [_number(o) for o in form["offsets"].replace(";", ",").split(",") if o.strip()]
    doc["aspiration_rule"] = {"kind": form["rule_kind"], "offsets": offsets}
    doc["direct_in_quota"] = form["direct_in_quota"]
    doc["dates"] = {k: (v + ":00+07:00" if len(v) == 16 else v) for k, v in form["dates"].items()}
    for name, (key, cols) in TABLES.items():
        rows = []
        for row in form["tables"][name]:
            out = {c: _number(row[c]) if c in ("quota", "minutes", "points") else row[c].strip() for c in cols}
            rows.append({k: v for k, v in out.items() if not (k in ("label", "kind") and v == "")})
        doc[key] = rows
    for school in doc["schools"]:
        if school.get("code") in specialised:
            school["specialised_classes"] = specialised[school["code"]]
    return doc, errors


def _render(request: Request, user, form: dict, errors: list[str] | None = None, status: int = 200, note: str = ""):
    return templates.TemplateResponse(request, "admissions/plan_form.html", {
        "user": user, "form": form, "errors": errors or [], "note": note, "blank_rows": BLANK_ROWS,
        "date_labels": dict(zip(DATE_KEYS, ["Mở đăng ký", "Đóng đăng ký", "Mở điều chỉnh nguyện vọng",
                                            "Đóng điều chỉnh nguyện vọng", "Ngày thi đầu", "Ngày thi cuối",
                                            "Công bố kết quả"], strict=True))}, status_code=status)


@router.get("/plans/form", response_class=HTMLResponse)
def plan_form(request: Request, session: DB, user=ADMIN, base: int | None = None):
    q = select(AdmPlan).order_by(AdmPlan.active.desc(), AdmPlan.year.desc(), AdmPlan.version.desc())
    row = session.get(AdmPlan, base) if base else session.scalars(q).first()
    return _render(request, user, form_from_doc(row.document if row else {}),
                   note=f"Bắt đầu từ kế hoạch năm {row.year}, phiên bản {row.version}." if row else "")


@router.post("/plans/form", response_class=HTMLResponse)
async def plan_form_submit(request: Request, session: DB, user=ADMIN):
    data = await request.form()
    upload = data.get("import_file")
    if data.get("action") == "import":
        raw = await upload.read() if upload is not None and hasattr(upload, "read") else b""
        name = getattr(upload, "filename", "") or ""
        try:
            text = raw.decode("utf-8-sig")
            doc = tomllib.loads(text) if name.lower().endswith(".toml") else json.loads(text)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
            form = await form_state(request)
            return _render(request, user, form, [f"Không đọc được tệp {name or '(chưa chọn tệp)'}: cần tệp JSON "
                                                 f"hoặc TOML của kế hoạch tuyển sinh ({exc})."], 422)
        return _render(request, user, form_from_doc(doc), note=f"Đã nạp {name} vào biểu mẫu; kiểm tra rồi bấm Lưu.")
    form = await form_state(request)
    doc, errors = doc_from_form(form)
    if not errors:
        try:
            AdmissionPlan.model_validate(doc)
        except ValidationError as exc:
            errors = vietnamese(exc)
    if not errors:
        try:
            row = save_plan(session, user, doc, note=form["note"][:200])
            session.commit()
            return RedirectResponse(f"/admissions?plan={row.id}", status_code=303)
        except PlanError as exc:  # rules that need the stored history (the third subject's years)
            session.rollback()
            errors = [rule_message(e.split(": ", 1)[-1]) for e in exc.errors]
    return _render(request, user, form, errors, 422)


def _toml_ready(value):
    """TOML has no null: drop None values (the plan's defaults apply)."""
    if isinstance(value, dict):
        return {k: _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_ready(v) for v in value]
    return value


@router.get("/plans/{plan_id}.toml")
def plan_toml(plan_id: RowId, session: DB, user=READERS):
    row = session.get(AdmPlan, plan_id)
    if row is None:
        raise HTTPException(404, "Không tìm thấy.")
    doc = _toml_ready(row.document)
    doc["previous_third_subjects"] = {str(k): v for k, v in doc.get("previous_third_subjects", {}).items()}
    return Response(tomli_w.dumps(doc), media_type="application/toml",
                    headers={"Content-Disposition": f'attachment; filename="ke-hoach-{row.year}-v{row.version}.toml"'})
