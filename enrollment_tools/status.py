"""`enroll status`: counts, gallery version, model id, students without consent, pending erasures, students with
0 or 1 template (to photograph again); `--student ID`: that student's templates, enrolled and learned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from enrollment_tools import consent, templates
from enrollment_tools.context import ConfigOpt, EnrollError, JsonOpt, command, open_school


def collect_status(conn, settings=None) -> dict:
    model = templates.embedder_id(settings=settings)
    one = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
    missing = consent.without_consent(conn)
    last_export = conn.execute("SELECT gallery_version, created_at, file_name FROM gallery_exports "
                               "ORDER BY id DESC LIMIT 1").fetchone()
    return {
        "students_active": one("SELECT count(*) FROM students WHERE status = 'active'"),
        "classes": one("SELECT count(*) FROM classes"),
        "students_enrolled": one("SELECT count(DISTINCT student_id) FROM face_templates WHERE model_sha256 = ?",
                                 model.sha256),
        "templates": one("SELECT count(*) FROM face_templates WHERE model_sha256 = ?", model.sha256),
        "templates_other_model": one("SELECT count(*) FROM face_templates WHERE model_sha256 != ?", model.sha256),
        "thumbnails": one("SELECT count(*) FROM student_thumbnails"),
        "gallery_version": templates.current_version(conn),
        "model": {"name": model.name, "sha256": model.sha256},
        "students_without_consent": len(missing),
        "without_consent": [{"student_id": s, "missing": m} for s, m in missing.items()],
        "erasures_pending_propagation": one("SELECT count(*) FROM erasure_queue WHERE propagated_at IS NULL"),
        "last_export": dict(last_export) if last_export else None,
        "learned_templates": one("SELECT count(*) FROM face_templates WHERE model_sha256 = ? AND source = 'learned'",
                                 model.sha256),
        "few_templates": few_templates(conn, model.sha256),
    }


def few_templates(conn, model_sha256: str) -> list[dict]:
    """Active students with 0 or 1 enrolled template (learned ones not counted): whom to photograph again."""
    rows = conn.execute(
        "SELECT s.id, s.class_id, count(t.id) AS n FROM students s LEFT JOIN face_templates t ON t.student_id = s.id "
        "AND t.model_sha256 = ? AND t.source != 'learned' WHERE s.status = 'active' GROUP BY s.id HAVING n <= 1 "
        "ORDER BY n, s.class_id, s.id", (model_sha256,)).fetchall()
    return [{"student_id": r[0], "class_id": r[1], "templates": r[2]} for r in rows]


def student_templates(conn, student_id: str) -> list[dict]:
    """Every template of a student (no embedding): source, embedder, quality, flags, where a learned one came from."""
    rows = conn.execute("SELECT id, model_name, source, quality, low_resolution, forced, created_at, learned_from "
                        "FROM face_templates WHERE student_id = ? ORDER BY id", (student_id,)).fetchall()
    return [{"id": r["id"], "model": r["model_name"], "source": r["source"], "quality": round(r["quality"], 3),
             "low_resolution": bool(r["low_resolution"]), "forced": bool(r["forced"]), "created_at": r["created_at"],
             "learned_from": json.loads(r["learned_from"]) if r["learned_from"] else None} for r in rows]


SOURCES = {"photo": "ảnh", "capture": "camera đăng ký", "learned": "học từ lượt điểm danh đã xác nhận"}


def status(school: Annotated[str | None, typer.Option("--school", help="kiểm tra mã trường")] = None,
           student: Annotated[str | None, typer.Option("--student", help="liệt kê ảnh mẫu của học sinh này")] = None,
           config: ConfigOpt = Path("edge.toml"), as_json: JsonOpt = False) -> None:
    """Tình trạng đăng ký của trường: số lượng, phiên bản thư viện, mô hình, học sinh chưa đồng ý."""
    with command(as_json) as out, open_school(config, school) as sch:
        if student is not None:
            if not sch.conn.execute("SELECT 1 FROM students WHERE id = ?", (student,)).fetchone():
                raise EnrollError(f"không có học sinh {student} trong cơ sở dữ liệu của trường {sch.code}")
            rows = student_templates(sch.conn, student)
            if not as_json:
                t = Table("Mã", "Nguồn", "Mô hình", "Chất lượng", "Ghi chú", "Tạo lúc", title=f"Mẫu của {student}")
                for r in rows:
                    src = r["learned_from"]
                    note = (f"tiết {src['lesson_id']} ngày {src['date']}, GV {src['finalised_by']} chốt"
                            if src else ("độ phân giải thấp" if r["low_resolution"] else ""))
                    t.add_row(str(r["id"]), SOURCES.get(r["source"], r["source"]), r["model"], f"{r['quality']:.2f}",
                              note, r["created_at"])
                out.console.print(t)
            out.result({"student_id": student, "templates": rows})
            return
        s = collect_status(sch.conn, sch.settings)
        if not as_json:
            t = Table("Mục", "Giá trị", title=f"Trường {sch.code}")
            for label, key in (("Học sinh đang học", "students_active"), ("Lớp", "classes"),
                               ("Học sinh đã đăng ký khuôn mặt", "students_enrolled"), ("Mẫu khuôn mặt", "templates"),
                               ("Ảnh thu nhỏ", "thumbnails"), ("Phiên bản thư viện mẫu", "gallery_version"),
                               ("Học sinh chưa đủ đồng ý", "students_without_consent"),
                               ("Yêu cầu xoá chờ gửi", "erasures_pending_propagation")):
                t.add_row(label, str(s[key]))
            t.add_row("Mô hình", f"{s['model']['name']} ({s['model']['sha256'][:12]})")
            out.console.print(t)
            if s["without_consent"]:
                ids = ", ".join(x["student_id"] for x in s["without_consent"][:20])
                more = len(s["without_consent"]) - 20
                out.console.print(f"Chưa đủ đồng ý: {ids}" + (f" ... và {more} em khác" if more > 0 else ""))
            if s["few_templates"]:
                few = ", ".join(f"{x['student_id']} ({x['templates']})" for x in s["few_templates"][:20])
                more = len(s["few_templates"]) - 20
                out.console.print(f"Cần chụp thêm ảnh (0 hoặc 1 mẫu): {few}"
                                  + (f" ... và {more} em khác" if more > 0 else ""))
        out.result(s)
