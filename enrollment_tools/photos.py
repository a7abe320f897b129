"""`enroll photos DIR`: bulk enrolment from photo folders with quality gates, duplicate check and a coverage report.

DIR holds `<student id>/*.jpg` (one folder per student), or a flat folder of photos with `--mapping FILE`
(columns "Tệp" and "Mã định danh"). Students without every required consent, unknown ids and students who
left are reported and never analysed. Photos are only read: nothing but templates (and with
`--keep-thumbnails` one small crop per student) is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from edge_agent.store import school_db
from edge_agent.store.tabular import read_table
from edge_agent.vision.quality import QualityGate
from enrollment_tools import consent, coverage, fields, templates
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
from enrollment_tools.enrol import enrol_students
from enrollment_tools.faces import PhotoPool, PhotoResult
from enrollment_tools.settings import duplicate_threshold as load_duplicate_threshold

IGNORED = {"thumbs.db", "desktop.ini"}
MAPPING_COLUMNS = {"file": ("Tệp", "Tên tệp", "Ảnh", "file", "photo"),
                   "student_id": ("Mã định danh", "Số định danh cá nhân", "student_id")}
K_DEFAULT = 3


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.name.lower() not in IGNORED)


def collect(root: Path, mapping: Path | None) -> tuple[list[tuple[str, str]], list[PhotoResult]]:
    """(photo path, folder/student id) tasks, and rejections found without looking at pixels."""
    if not root.is_dir():
        raise EnrollError(f"{root}: không phải thư mục ảnh")
    tasks: list[tuple[str, str]] = []
    bad: list[PhotoResult] = []
    if mapping is not None:
        for row in read_table(mapping, MAPPING_COLUMNS, {"file", "student_id"}):
            path = root / row.values["file"]
            if not path.is_file():
                bad.append(PhotoResult(str(path), row.values["student_id"], "", "missing_file",
                                       [("missing_file", f"{mapping} dòng {row.number}: không có tệp {path.name}")]))
                continue
            tasks.append((str(path), row.values["student_id"]))
        return tasks, bad
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise EnrollError(f"{root}: không có thư mục con <mã định danh>/; với thư mục phẳng hãy dùng --mapping tệp.csv")
    for folder in folders:
        tasks += [(str(p), folder.name) for p in _files(folder)]
    return tasks, bad


def screen(conn, tasks, model_sha256: str) -> tuple[list[tuple[str, str]], list[PhotoResult], dict[str, list[str]]]:
    """Drop photos of unknown / departed / non-consenting students and photos already enrolled."""
    students = {r[0]: r[1] for r in conn.execute("SELECT id, status FROM students")}
    known = templates.known_photos(conn, model_sha256)
    go, out, missing = [], [], {}
    seen: set[tuple[str, str]] = set()
    for path, raw in tasks:
        try:
            sid = fields.student_id(raw)
        except ValueError:
            out.append(PhotoResult(path, raw, "", "unknown_student",
                                   [("unknown_student", f"'{raw}' không phải mã định danh 12 số")]))
            continue
        if sid not in students:
            out.append(PhotoResult(path, sid, "", "unknown_student", [(
                "unknown_student", f"không có học sinh {sid} trong danh sách (nhập danh sách lớp trước)")]))
            continue
        if students[sid] != "active":
            out.append(PhotoResult(path, sid, "", "not_active", [("not_active", f"học sinh {sid} không còn học")]))
            continue
        if sid not in missing:
            missing[sid] = consent.missing_consent(conn, sid)
        if missing[sid]:
            out.append(PhotoResult(path, sid, "", "no_consent", [(
                "no_consent", f"chưa có đồng ý của: {', '.join(missing[sid])} (mục đích điểm danh)")]))
            continue
        try:
            sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:
            out.append(PhotoResult(path, sid, "", "not_an_image", [("not_an_image", f"không đọc được ({exc})")]))
            continue
        if (sid, sha) in known or (sid, sha) in seen:
            out.append(PhotoResult(path, sid, sha, "already_enrolled", [("already_enrolled", "ảnh đã được dùng")]))
            continue
        seen.add((sid, sha))
        go.append((path, sid))
    return go, out, missing


def photos(directory: Annotated[Path, typer.Argument(help="thư mục <mã định danh>/*.jpg (hoặc phẳng + --mapping)")],
           school: SchoolOpt,
           workers: Annotated[int, typer.Option(min=1, max=64, help="số tiến trình phân tích (mỗi lõi một)")] = 2,
           k: Annotated[int, typer.Option("--k", min=1, max=10, help="số mẫu giữ cho mỗi học sinh")] = K_DEFAULT,
           force: Annotated[bool, typer.Option("--force", help="đăng ký cả ảnh bị đánh dấu trùng")] = False,
           keep_thumbnails: Annotated[bool, typer.Option("--keep-thumbnails", help="giữ ảnh mặt nhỏ")] = False,
           mapping: Annotated[Path | None, typer.Option(help="CSV/XLSX: tệp ảnh -> mã định danh")] = None,
           report: Annotated[Path | None, typer.Option(help="báo cáo CSV (mặc định: thư mục reports/)")] = None,
           config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR, as_json: JsonOpt = False) -> None:
    """Đăng ký học sinh từ ảnh: một khuôn mặt, kiểm tra cỡ/độ nét/góc/độ sáng, kiểm tra trùng, giữ K ảnh tốt nhất."""
    with command(as_json) as out, open_school(config, school) as sch:
        threshold = load_duplicate_threshold(sch.settings)
        model = templates.embedder_id(settings=sch.settings)
        cipher = templates.TemplateCipher(sch.gallery_key, sch.code)
        tasks, rejected = collect(directory, mapping)
        tasks, screened, _ = screen(sch.conn, tasks, model.sha256)
        rejected += screened
        accepted: dict[str, list[PhotoResult]] = {}
        results: list[PhotoResult] = []
        progress = Progress(TextColumn("[bold]Ảnh"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                            TextColumn("{task.fields[rate]} ảnh/s"), TimeRemainingColumn(), console=out.err,
                            disable=as_json, transient=False)
        with progress:
            task = progress.add_task("photos", total=len(tasks), rate="-")

            def advance(n: int) -> None:
                progress.advance(task, n)
                speed = progress.tasks[0].speed
                progress.update(task, rate=f"{speed:.1f}" if speed else "-")

            for r in PhotoPool(workers, QualityGate(), keep_thumbnails,
                                   embedder=templates.embedder_choice(sch.settings),
                                   weight=templates.fusion_weight_of(sch.settings)).run(tasks, advance):
                results.append(r)
                if r.ok:
                    accepted.setdefault(fields.student_id(r.student_id), []).append(r)
        outcomes, version = enrol_students(sch.conn, cipher, model, accepted, k=k, duplicate_threshold=threshold,
                                           force=force, source="photo", actor=actor, keep_thumbnails=keep_thumbnails)
        all_results = rejected + results
        with school_db.transaction(sch.conn):
            school_db.audit(sch.conn, actor, "enroll.photos.run", directory.name, json.dumps(
                {"photos": len(all_results), "students_enrolled": sum(1 for o in outcomes.values() if o.added),
                 "templates_added": sum(o.added for o in outcomes.values()), "gallery_version": version,
                 "rejected": dict(Counter(r.code for r in all_results if r.code not in ("ok", "surplus")))}))
        cov = coverage.build(sch.conn, model.sha256, all_results)
        report_path = coverage.write_csv(report or coverage.default_path(sch.settings.paths.data_dir), sch.conn,
                                         model.sha256, all_results)
        data = {"photos": len(all_results), "gallery_version": version, "duplicate_threshold": threshold,
                "templates_added": sum(o.added for o in outcomes.values()),
                "duplicates": [dict(d, student_id=o.student_id) for o in outcomes.values() for d in o.duplicates],
                "coverage": cov, "report": str(report_path),
                "rejected": [{"path": r.path, "student_id": r.student_id, "code": r.code, "reason": r.message}
                             for r in all_results if r.code not in ("ok", "surplus")]}
        if not as_json:
            coverage.print_summary(out.console, cov, data["rejected"], data["duplicates"], report_path, version)
        problems = Counter(r["code"] for r in data["rejected"])
        usable = any(o.added for o in outcomes.values()) or any(r.code in ("already_enrolled", "surplus")
                                                                for r in all_results)
        if not usable:
            # nothing enrolled from a folder with no usable photo is a failure (exit 1), not a success to overlook;
            # a re-run over photos already enrolled is not
            why = ", ".join(f"{n} ảnh: {coverage.REASON_NAMES.get(c, c)}" for c, n in problems.most_common())
            raise EnrollError(f"không đăng ký được học sinh nào ({why or f'không có ảnh nào trong {directory}'}); "
                              f"xem báo cáo {report_path}", **data)
        out.result(data)
