"""`enroll status`: counts, gallery version, model id, students without consent, pending erasures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from enrollment_tools import consent, templates
from enrollment_tools.context import ConfigOpt, JsonOpt, command, open_school


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
    }


def status(school: Annotated[str | None, typer.Option("--school", help="kiểm tra mã trường")] = None,
           config: ConfigOpt = Path("edge.toml"), as_json: JsonOpt = False) -> None:
    """Tình trạng đăng ký của trường: số lượng, phiên bản thư viện, mô hình, học sinh chưa đồng ý."""
    with command(as_json) as out, open_school(config, school) as sch:
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
        out.result(s)
