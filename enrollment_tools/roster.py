"""`enroll roster import`: student master data from the MOET export (CSV/XLSX), preview then apply.

Columns are found by header name; the 12-digit personal id is the key. The preview lists new students,
updated ones, class moves and invalid rows with the reason. `--apply` writes everything in one transaction,
and refuses (writing nothing) while any row is invalid, unless `--skip-invalid`. A student who leaves
(transferred, graduated, withdrawn) loses his or her biometric data in the same transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edge_agent.store import school_db
from edge_agent.store.tabular import Row, fold, read_table
from enrollment_tools import fields
from enrollment_tools.context import (
    DEFAULT_ACTOR,
    ActorOpt,
    ConfigOpt,
    EnrollError,
    JsonOpt,
    SchoolOpt,
    command,
    open_school,
)
from enrollment_tools.removal import erase_student, scrub_gallery_file

COLUMNS = {
    "student_id": ("Mã định danh", "Số định danh cá nhân", "Mã định danh cá nhân", "Số định danh", "Số CCCD",
                   "CCCD", "personal_id", "student_id"),
    "full_name": ("Họ và tên", "Họ tên", "Tên học sinh", "full_name", "name"),
    "date_of_birth": ("Ngày sinh", "date_of_birth", "dob"),
    "class_id": ("Lớp", "Mã lớp", "Tên lớp", "class", "class_id"),
    "gender": ("Giới tính", "gender"),
    "status": ("Trạng thái HS", "Trạng thái", "Trạng thái học sinh", "status"),
}
LABELS = {field: aliases[0] for field, aliases in COLUMNS.items()}   # Vietnamese label of each field
REQUIRED = {"student_id", "full_name", "date_of_birth", "class_id"}
STATUSES = {"dang hoc": "active", "chuyen den": "active", "nghi hoc xin hoc lai": "active", "hoc lai": "active",
            "active": "active", "chuyen di": "transferred", "transferred": "transferred", "thoi hoc": "withdrawn",
            "nghi hoc": "withdrawn", "bo hoc": "withdrawn", "withdrawn": "withdrawn", "tot nghiep": "graduated",
            "da tot nghiep": "graduated", "graduated": "graduated"}
_CLASS = re.compile(r"^[0-9A-Za-zÀ-ỹ._ -]{1,20}$")
_FIELDS = ("full_name", "date_of_birth", "class_id", "gender", "status")


@dataclass
class Student:
    row: int
    id: str
    full_name: str
    date_of_birth: str
    class_id: str
    gender: str | None
    status: str


@dataclass
class Plan:
    file: str
    new: list[Student] = field(default_factory=list)
    updated: list[tuple[Student, dict]] = field(default_factory=list)   # student, {field: (old, new)}
    unchanged: int = 0
    invalid: list[dict] = field(default_factory=list)                   # {"row", "id", "reasons"}
    new_classes: list[str] = field(default_factory=list)
    leaving_with_templates: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"file": self.file, "new": [s.id for s in self.new],
                "updated": [{"id": s.id, "row": s.row, "changes": {k: list(v) for k, v in ch.items()}}
                            for s, ch in self.updated],
                "moved": [{"id": s.id, "from": ch["class_id"][0], "to": ch["class_id"][1]}
                          for s, ch in self.updated if "class_id" in ch],
                "unchanged": self.unchanged, "invalid": self.invalid, "new_classes": self.new_classes,
                "erase_biometrics": self.leaving_with_templates}


def _parse(row: Row) -> tuple[Student | None, list[str]]:
    v, reasons = row.values, []
    sid = dob = None
    try:
        sid = fields.student_id(v["student_id"])
    except ValueError as exc:
        reasons.append(str(exc))
    name = " ".join(v["full_name"].split())
    if not name:
        reasons.append("thiếu họ và tên")
    try:
        dob = fields.parse_date(v["date_of_birth"]).isoformat()
    except ValueError as exc:
        reasons.append(str(exc))
    cls = v["class_id"].strip()
    if not cls or not _CLASS.match(cls):
        reasons.append(f"lớp '{cls}' không hợp lệ")
    gender = None
    try:
        gender = fields.gender(v.get("gender", ""))
    except ValueError as exc:
        reasons.append(str(exc))
    status = "active"
    if v.get("status", "").strip():
        status = STATUSES.get(fold(v["status"]))
        if status is None:
            reasons.append(f"trạng thái '{v['status']}' không rõ")
    if reasons:
        return None, reasons
    return Student(row.number, sid, name, dob, cls, gender, status), []


def plan_import(conn: sqlite3.Connection, path: Path) -> Plan:
    rows = read_table(path, COLUMNS, REQUIRED)
    plan = Plan(str(path))
    parsed: list[Student] = []
    first_row: dict[str, list[int]] = {}
    for row in rows:
        student, reasons = _parse(row)
        if reasons:
            plan.invalid.append({"row": row.number, "id": row.values.get("student_id", ""), "reasons": reasons})
            continue
        first_row.setdefault(student.id, []).append(row.number)
        parsed.append(student)
    dupes = {sid: nums for sid, nums in first_row.items() if len(nums) > 1}
    for student in parsed:
        if student.id in dupes:
            others = ", ".join(str(n) for n in dupes[student.id] if n != student.row)
            plan.invalid.append({"row": student.row, "id": student.id,
                                 "reasons": [f"mã định danh trùng với dòng {others}"]})
    plan.invalid.sort(key=lambda r: r["row"])
    known_classes = {r[0] for r in conn.execute("SELECT id FROM classes")}
    with_templates = {r[0] for r in conn.execute("SELECT DISTINCT student_id FROM face_templates")}
    for student in parsed:
        if student.id in dupes:
            continue
        if student.class_id not in known_classes and student.class_id not in plan.new_classes:
            plan.new_classes.append(student.class_id)
        old = conn.execute("SELECT * FROM students WHERE id = ?", (student.id,)).fetchone()
        if old is None:
            plan.new.append(student)
            continue
        changes = {f: (old[f], getattr(student, f)) for f in _FIELDS
                   if (old[f] or None) != (getattr(student, f) or None)}
        if changes:
            plan.updated.append((student, changes))
            if student.status != "active" and student.id in with_templates:
                plan.leaving_with_templates.append(student.id)
        else:
            plan.unchanged += 1
    return plan


def apply_plan(conn: sqlite3.Connection, plan: Plan, actor: str) -> list[str]:
    """Write the plan in one transaction; returns the ids whose biometric data was erased."""
    now = school_db.now_iso()
    erased = []
    with school_db.transaction(conn):
        for cls in plan.new_classes:
            grade = re.match(r"^(\d{1,2})", cls)
            g = int(grade.group(1)) if grade and 1 <= int(grade.group(1)) <= 12 else None
            conn.execute("INSERT INTO classes (id, name, grade) VALUES (?, ?, ?)", (cls, cls, g))
        for s in plan.new:
            conn.execute("INSERT INTO students (id, full_name, date_of_birth, class_id, gender, status, created_at, "
                         "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (s.id, s.full_name, s.date_of_birth, s.class_id, s.gender, s.status, now, now))
        for s, changes in plan.updated:
            conn.execute("UPDATE students SET full_name = ?, date_of_birth = ?, class_id = ?, gender = ?, status = ?, "
                         "updated_at = ? WHERE id = ?",
                         (s.full_name, s.date_of_birth, s.class_id, s.gender, s.status, now, s.id))
            school_db.audit(conn, actor, "roster.update", s.id,
                            json.dumps({k: list(v) for k, v in changes.items()}, ensure_ascii=False))
        for sid in plan.leaving_with_templates:
            erase_student(conn, sid, "học sinh không còn học tại trường (danh sách lớp)", actor)
            erased.append(sid)
        school_db.audit(conn, actor, "roster.import", Path(plan.file).name,
                        json.dumps({"new": len(plan.new), "updated": len(plan.updated), "unchanged": plan.unchanged,
                                    "skipped_invalid": len(plan.invalid), "new_classes": plan.new_classes}))
    return erased


def _print(out, plan: Plan) -> None:
    moved = [(s, ch) for s, ch in plan.updated if "class_id" in ch]
    out.console.print(f"[bold]{plan.file}[/]: {len(plan.new)} mới, {len(plan.updated)} thay đổi "
                      f"({len(moved)} chuyển lớp), {plan.unchanged} không đổi, {len(plan.invalid)} dòng lỗi")
    if plan.new_classes:
        out.console.print(f"Lớp mới: {', '.join(plan.new_classes)}")
    table = Table("Dòng", "Mã định danh", "Loại", "Chi tiết", show_lines=False)
    for s in plan.new[:50]:
        table.add_row(str(s.row), s.id, "mới", f"{s.full_name} ({s.class_id})")
    for s, ch in plan.updated:
        kind = "chuyển lớp" if "class_id" in ch else "cập nhật"
        table.add_row(str(s.row), s.id, kind,
                      "; ".join(f"{LABELS.get(k, k)}: {a} → {b}" for k, (a, b) in ch.items()))
    for bad in plan.invalid:
        table.add_row(str(bad["row"]), bad["id"], "[red]lỗi[/]", "; ".join(bad["reasons"]))
    out.console.print(table)
    if len(plan.new) > 50:
        out.console.print(f"... và {len(plan.new) - 50} học sinh mới khác")
    if plan.leaving_with_templates:
        out.console.print(f"Sẽ xoá dữ liệu khuôn mặt của {len(plan.leaving_with_templates)} học sinh đã rời trường.")


roster_app = typer.Typer(help="Danh sách học sinh (xuất từ CSDL ngành).", no_args_is_help=True)


@roster_app.command("import")
def import_roster(file: Annotated[Path, typer.Argument(help="danh sách .csv/.xlsx (xuất từ CSDL ngành)")],
                  school: SchoolOpt, apply: Annotated[bool, typer.Option("--apply", help="ghi các thay đổi")] = False,
                  skip_invalid: Annotated[bool, typer.Option(help="chỉ ghi các dòng hợp lệ, bỏ dòng lỗi")] = False,
                  config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR,
                  as_json: JsonOpt = False) -> None:
    """Xem trước (mặc định) hoặc ghi danh sách học sinh; khoá là mã định danh 12 số."""
    with command(as_json) as out, open_school(config, school) as sch:
        plan = plan_import(sch.conn, file)
        if not as_json:
            _print(out, plan)
        if not apply:
            out.result({"applied": False, **plan.to_json()},
                       "Xem trước: chưa ghi gì. Thêm --apply để ghi vào cơ sở dữ liệu.")
            return
        if plan.invalid and not skip_invalid:
            raise EnrollError(f"{file}: {len(plan.invalid)} dòng lỗi (dòng "
                              f"{', '.join(str(r['row']) for r in plan.invalid[:10])}); không ghi gì. Sửa tệp rồi "
                              "chạy lại, hoặc dùng --skip-invalid để chỉ ghi các dòng hợp lệ.",
                              invalid=plan.invalid)
        erased = apply_plan(sch.conn, plan, actor)
        for sid in erased:
            scrub_gallery_file(sch.settings.paths.gallery_path, sid, sch.gallery_seal)
        out.result({"applied": True, **plan.to_json(), "erased": erased},
                   f"Đã ghi: {len(plan.new)} học sinh mới, {len(plan.updated)} thay đổi.")

