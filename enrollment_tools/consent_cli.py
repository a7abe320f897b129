"""`enroll consent import FILE` and `enroll consent set ID`: record or withdraw consent (withdrawal erases)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.store import school_db
from edge_agent.store.tabular import read_table
from enrollment_tools import consent, fields
from enrollment_tools.context import DEFAULT_ACTOR, ActorOpt, ConfigOpt, EnrollError, JsonOpt, command, open_school
from enrollment_tools.removal import scrub_gallery_file

COLUMNS = {
    "student_id": ("Mã định danh", "Số định danh cá nhân", "Mã định danh cá nhân", "Số định danh", "student_id"),
    "given_by": ("Người đồng ý", "Người cho phép", "Người ký", "given_by"),
    "purpose": ("Mục đích", "purpose"),
    "given_at": ("Ngày đồng ý", "Ngày ký", "given_at"),
    "withdrawn": ("Rút lại", "Ngày rút lại", "Rút lại đồng ý", "withdrawn", "withdrawn_at"),
    "note": ("Ghi chú", "note"),
}
_YES = {"x", "co", "có", "yes", "1", "true", "rut", "rút lại"}

consent_app = typer.Typer(help="Sự đồng ý xử lý dữ liệu sinh trắc (theo mục đích).", no_args_is_help=True)


def _parse_rows(conn, path: Path) -> tuple[list[dict], list[dict]]:
    good, bad, seen = [], [], {}
    known = {r[0] for r in conn.execute("SELECT id FROM students")}
    for row in read_table(path, COLUMNS, {"student_id", "given_by"}):
        v, reasons, rec = row.values, [], {"row": row.number}
        try:
            rec["student_id"] = fields.student_id(v["student_id"])
            if rec["student_id"] not in known:
                reasons.append(f"không có học sinh {rec['student_id']} trong danh sách (nhập danh sách lớp trước)")
        except ValueError as exc:
            reasons.append(str(exc))
        for key, parse in (("given_by", fields.giver), ("purpose", fields.purpose)):
            try:
                rec[key] = parse(v.get(key, ""))
            except ValueError as exc:
                reasons.append(str(exc))
        when = v.get("given_at", "").strip()
        try:
            rec["given_at"] = fields.parse_date(when).isoformat() if when else school_db.now_iso()
        except ValueError as exc:
            reasons.append(str(exc))
        withdrawn = v.get("withdrawn", "").strip()
        rec["withdrawn_at"] = None
        if withdrawn:
            try:
                rec["withdrawn_at"] = fields.parse_date(withdrawn).isoformat()
            except ValueError:
                if withdrawn.lower() not in _YES:
                    reasons.append(f"cột rút lại '{withdrawn}' phải là ngày hoặc 'x'")
                rec["withdrawn_at"] = school_db.now_iso()
        rec["note"] = v.get("note", "")
        key = (rec.get("student_id"), rec.get("given_by"), rec.get("purpose"))
        if not reasons and key in seen:
            reasons.append(f"trùng với dòng {seen[key]} (cùng học sinh, người đồng ý, mục đích)")
        seen.setdefault(key, row.number)
        if reasons:
            bad.append({"row": row.number, "id": v.get("student_id", ""), "reasons": reasons})
        else:
            good.append(rec)
    return good, bad


@consent_app.command("import")
def import_consents(file: Annotated[Path, typer.Argument(help="danh sách phiếu đồng ý (.csv/.xlsx)")],
                    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="chỉ ghi dòng hợp lệ")] = False,
                    config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR,
                    as_json: JsonOpt = False) -> None:
    """Ghi các phiếu đồng ý đã ký (mỗi dòng một học sinh và người đồng ý); rút lại thì xoá dữ liệu."""
    with command(as_json) as out, open_school(config) as sch:
        good, bad = _parse_rows(sch.conn, file)
        if bad and not skip_invalid:
            lines = "; ".join(f"dòng {b['row']}: {', '.join(b['reasons'])}" for b in bad[:10])
            raise EnrollError(f"{file}: {len(bad)} dòng lỗi, không ghi gì ({lines}). Sửa tệp rồi chạy lại, "
                              "hoặc dùng --skip-invalid.", invalid=bad)
        given = withdrawn = 0
        erasures = []
        with school_db.transaction(sch.conn):
            for rec in good:
                if rec["withdrawn_at"]:
                    erasures.append(consent.withdraw(sch.conn, rec["student_id"], rec["purpose"], rec["given_by"],
                                                     actor, when=rec["withdrawn_at"]))
                    withdrawn += 1
                elif consent.give(sch.conn, rec["student_id"], rec["purpose"], rec["given_by"], rec["given_at"],
                                  actor, rec["note"]):
                    given += 1
            school_db.audit(sch.conn, actor, "consent.import", file.name,
                            json.dumps({"given": given, "withdrawn": withdrawn, "skipped_invalid": len(bad)}))
        for e in (e for e in erasures if not e.learned_only):
            scrub_gallery_file(sch.settings.paths.gallery_path, e.student_id, sch.gallery_seal)
        out.result({"given": given, "withdrawn": withdrawn, "unchanged": len(good) - given - withdrawn,
                    "invalid": bad, "erasures": [asdict(e) for e in erasures]},
                   f"Đã ghi {given} sự đồng ý, {withdrawn} rút lại (đã xoá dữ liệu khuôn mặt), "
                   f"{len(bad)} dòng lỗi bỏ qua.")


@consent_app.command("set")
def set_consent(student: Annotated[str, typer.Argument(help="mã định danh 12 số")],
                given_by: Annotated[str, typer.Option("--given-by", help="phụ huynh (parent) | học sinh (student)")],
                purpose: Annotated[str, typer.Option("--purpose", help="mục đích (attendance)")] = "attendance",
                withdraw: Annotated[bool, typer.Option("--withdraw", help="rút lại (xoá dữ liệu khuôn mặt)")] = False,
                note: Annotated[str, typer.Option(help="ghi chú, ví dụ số phiếu")] = "",
                config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR,
                as_json: JsonOpt = False) -> None:
    """Ghi (hoặc rút lại) một sự đồng ý cho một mục đích."""
    with command(as_json) as out, open_school(config) as sch:
        try:
            sid, giver, purp = fields.student_id(student), fields.giver(given_by), fields.purpose(purpose)
        except ValueError as exc:
            raise EnrollError(str(exc)) from None
        if not sch.conn.execute("SELECT 1 FROM students WHERE id = ?", (sid,)).fetchone():
            raise EnrollError(f"không có học sinh {sid} trong danh sách của trường {sch.code}")
        with school_db.transaction(sch.conn):
            if withdraw:
                erasure = consent.withdraw(sch.conn, sid, purp, giver, actor)
            else:
                changed = consent.give(sch.conn, sid, purp, giver, school_db.now_iso(), actor, note)
        if withdraw and not erasure.learned_only:
            scrub_gallery_file(sch.settings.paths.gallery_path, sid, sch.gallery_seal)
            out.result({"student_id": sid, "withdrawn": True, "erasure": asdict(erasure)},
                       f"Đã rút lại đồng ý của {sid}; đã xoá {erasure.templates_removed} mẫu khuôn mặt.")
            return
        missing = consent.missing_consent(sch.conn, sid, purp)
        text = f"Đã ghi đồng ý ({giver}, {purp}) cho {sid}." if changed else "Đồng ý này đã có từ trước."
        if missing:
            text += f" Còn thiếu đồng ý của: {', '.join(missing)}."
        out.result({"student_id": sid, "recorded": changed, "missing": missing}, text)
