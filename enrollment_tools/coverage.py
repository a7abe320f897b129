"""The coverage report of an enrolment run: students with 0 / 1 / 2 / 3+ templates, rejections by reason."""

from __future__ import annotations

import csv
import os
from collections import Counter
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from enrollment_tools import consent, templates
from enrollment_tools.faces import PhotoResult

REASON_NAMES = {
    "not_an_image": "không phải ảnh / ảnh hỏng", "no_face": "không thấy khuôn mặt",
    "multi_face": "nhiều khuôn mặt", "too_small": "mặt quá nhỏ", "blurry": "ảnh mờ", "pose": "mặt quay/cúi",
    "exposure": "quá tối/quá sáng", "low_quality": "chất lượng thấp", "duplicate": "trùng học sinh khác",
    "no_consent": "chưa có đồng ý", "unknown_student": "mã không có trong danh sách",
    "not_active": "học sinh đã rời trường", "already_enrolled": "ảnh đã dùng", "missing_file": "thiếu tệp",
}
NOT_REJECTED = {"ok", "surplus", "already_enrolled"}


def _bucket(n: int) -> str:
    return "3+" if n >= 3 else str(n)


def build(conn, model_sha256: str, results: list[PhotoResult]) -> dict:
    counts = templates.counts_per_student(conn, model_sha256)
    active = [r[0] for r in conn.execute("SELECT id FROM students WHERE status = 'active'")]
    buckets = Counter({"0": 0, "1": 0, "2": 0, "3+": 0})
    buckets.update(_bucket(counts.get(sid, 0)) for sid in active)
    in_run = {r.student_id for r in results} & set(active)
    run_buckets = Counter({"0": 0, "1": 0, "2": 0, "3+": 0})
    run_buckets.update(_bucket(counts.get(sid, 0)) for sid in in_run)
    return {"active_students": len(active), "templates_per_student": dict(buckets),
            "students_in_run": len(in_run), "templates_per_student_in_run": dict(run_buckets),
            "rejected_by_reason": dict(Counter(r.code for r in results if r.code not in NOT_REJECTED)),
            "without_consent": len(consent.without_consent(conn))}


def default_path(data_dir: Path) -> Path:
    return Path(data_dir) / "reports" / f"enrol-{datetime.now():%Y%m%d-%H%M%S}.csv"


def write_csv(path: Path, conn, model_sha256: str, results: list[PhotoResult]) -> Path:
    """One row per active student and per unknown folder: templates now, photos, rejections with reasons."""
    counts = templates.counts_per_student(conn, model_sha256)
    missing = consent.without_consent(conn)
    per: dict[str, list[PhotoResult]] = {}
    for r in results:
        per.setdefault(r.student_id, []).append(r)
    rows = conn.execute("SELECT id, full_name, class_id FROM students WHERE status = 'active' ORDER BY class_id, id")
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    # names and personal ids of minors: readable by the school's IT account only
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel opens it with accents
        w = csv.writer(fh)
        w.writerow(["Mã định danh", "Họ và tên", "Lớp", "Số mẫu", "Ảnh trong lần chạy", "Ảnh đạt",
                     "Thiếu đồng ý", "Ảnh bị loại (lý do)"])
        seen = set()
        for sid, name, cls in rows:
            seen.add(sid)
            rs = per.get(sid, [])
            w.writerow([sid, name, cls or "", counts.get(sid, 0), len(rs), sum(r.ok for r in rs),
                        ", ".join(missing.get(sid, [])),
                        " | ".join(f"{Path(r.path).name}: {r.message}" for r in rs if r.code not in NOT_REJECTED)])
        for sid, rs in sorted(per.items()):
            if sid not in seen:
                w.writerow([sid, "", "", 0, len(rs), 0, "",
                            " | ".join(f"{Path(r.path).name}: {r.message}" for r in rs)])
    return path


def print_summary(console: Console, cov: dict, rejected: list[dict], duplicates: list[dict], report: Path,
                  version: int | None) -> None:
    t = Table("Số mẫu", "Học sinh (toàn trường)", "Học sinh (lần chạy này)", title="Độ phủ đăng ký khuôn mặt")
    for b in ("0", "1", "2", "3+"):
        t.add_row(b, str(cov["templates_per_student"][b]), str(cov["templates_per_student_in_run"][b]))
    console.print(t)
    if cov["rejected_by_reason"]:
        r = Table("Lý do", "Số ảnh", title="Ảnh bị loại")
        for code, n in sorted(cov["rejected_by_reason"].items(), key=lambda x: -x[1]):
            r.add_row(REASON_NAMES.get(code, code), str(n))
        console.print(r)
    for d in duplicates:
        console.print(f"[yellow]Nghi trùng:[/] {d['student_id']} ({Path(d['path']).name}) giống {d['other']} "
                      f"(điểm {d['score']:.2f})")
    for item in rejected[:20]:
        console.print(f"  {item['path']}: {item['reason']}")
    if len(rejected) > 20:
        console.print(f"  ... và {len(rejected) - 20} ảnh khác (xem báo cáo)")
    console.print(f"{cov['without_consent']} học sinh chưa có đủ đồng ý. Phiên bản thư viện mẫu: {version or '-'}. "
                  f"Báo cáo: {report}")
