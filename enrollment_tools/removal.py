"""Right to erasure: every template and the thumbnail of a student are deleted, audited and queued.

`erase_student` runs inside the caller's transaction (so a consent withdrawal and its erasure commit
together); `scrub_gallery_file` then removes the student from the installed gallery file, and the
`erasure_queue` row tells the running service and the central server (`edge_agent.store.erasure_queue`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from edge_agent.protocol import uuid7
from edge_agent.recognition.gallery import Gallery, GalleryError
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.store import school_db
from enrollment_tools import templates
from enrollment_tools.context import DEFAULT_ACTOR, ActorOpt, ConfigOpt, EnrollError, JsonOpt, command, open_school
from enrollment_tools.fields import student_id as parse_id


@dataclass(frozen=True)
class Erasure:
    request_id: str
    student_id: str
    templates_removed: int
    thumbnails_removed: int
    gallery_version: int | None
    gallery_file_templates_removed: int = 0
    learned_only: bool = False   # only the learned templates went (the learning consent was withdrawn)


def erase_student(conn: sqlite3.Connection, student_id: str, reason: str, actor: str) -> Erasure:
    """Delete the student's templates, thumbnail and camera crops, queue the erasure, audit it (caller's
    transaction)."""
    n_templates = conn.execute("DELETE FROM face_templates WHERE student_id = ?", (student_id,)).rowcount
    n_thumbs = conn.execute("DELETE FROM student_thumbnails WHERE student_id = ?", (student_id,)).rowcount
    # the camera's face crops of the student on the kiosk (best sighting per lesson, review items)
    n_crops = conn.execute("UPDATE sightings SET crop = NULL WHERE student_id = ? AND crop IS NOT NULL",
                           (student_id,)).rowcount
    n_crops += conn.execute("UPDATE review_queue SET crop = NULL WHERE crop IS NOT NULL AND (candidate_id = ? "
                            "OR resolved_student_id = ?)", (student_id, student_id)).rowcount
    conn.execute("DELETE FROM sighting_embeddings WHERE student_id = ?", (student_id,))  # kept best frames
    request_id = str(uuid7())
    conn.execute("INSERT INTO erasure_queue (request_id, student_id, reason, requested_by, requested_at, "
                 "templates_removed, thumbnails_removed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (request_id, student_id, reason, actor, school_db.now_iso(), n_templates, n_thumbs))
    version = templates.bump_version(conn, actor, f"erasure {student_id}") if n_templates else None
    school_db.audit(conn, actor, "enroll.erase", student_id,
                    json.dumps({"reason": reason, "request_id": request_id, "templates_removed": n_templates,
                                "thumbnails_removed": n_thumbs, "crops_removed": n_crops,
                                "gallery_version": version}, ensure_ascii=False))
    return Erasure(request_id, student_id, n_templates, n_thumbs, version)


def erase_learned(conn: sqlite3.Connection, student_id: str, reason: str, actor: str) -> Erasure:
    """The learning consent was withdrawn: delete the student's learned templates and kept sighting frames (the
    enrolled templates stay: the attendance consent still stands); caller's transaction, audited. The running
    service refreshes its gallery when the gallery version changes."""
    n = conn.execute("DELETE FROM face_templates WHERE student_id = ? AND source = 'learned'", (student_id,)).rowcount
    conn.execute("DELETE FROM sighting_embeddings WHERE student_id = ?", (student_id,))
    version = templates.bump_version(conn, actor, f"learned templates erased {student_id}") if n else None
    school_db.audit(conn, actor, "enroll.erase_learned", student_id,
                    json.dumps({"reason": reason, "templates_removed": n, "gallery_version": version},
                               ensure_ascii=False))
    return Erasure("", student_id, n, 0, version, learned_only=True)


def scrub_gallery_file(path: Path, student_id: str, seal: GallerySeal | None = None) -> int:
    """Remove the student from the installed gallery file (atomic rewrite, encrypted with `seal`); templates
    removed. A plain old file is rewritten encrypted."""
    if not path.exists():
        return 0
    try:
        gallery = Gallery.load(path, seal=seal, migrate_plain=True)
    except GalleryError:
        return 0  # nothing loadable there: nothing the service could recognise either
    removed = gallery.remove(student_id)
    if removed:
        gallery.save(path, seal=seal)
    return removed


def remove(student: str = typer.Argument(..., help="mã định danh 12 số của học sinh"),
           reason: str = typer.Option("yêu cầu xoá dữ liệu", "--reason", help="lý do (ghi vào nhật ký)"),
           config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR, as_json: JsonOpt = False) -> None:
    """Xoá mọi mẫu khuôn mặt và ảnh nhỏ của một học sinh (ghi nhật ký, gửi tới máy điểm danh)."""
    with command(as_json) as out:
        try:
            sid = parse_id(student)
        except ValueError as exc:
            raise EnrollError(str(exc)) from None
        with open_school(config) as school:
            if not school.conn.execute("SELECT 1 FROM students WHERE id = ?", (sid,)).fetchone():
                raise EnrollError(f"không có học sinh {sid} trong cơ sở dữ liệu của trường {school.code}")
            with school_db.transaction(school.conn):
                erasure = erase_student(school.conn, sid, reason, actor)
            in_file = scrub_gallery_file(school.settings.paths.gallery_path, sid, school.gallery_seal)
        result = asdict(erasure) | {"gallery_file_templates_removed": in_file}
        out.result(result, f"Đã xoá {erasure.templates_removed} mẫu khuôn mặt và {erasure.thumbnails_removed} ảnh "
                           f"thu nhỏ của {sid}; yêu cầu {erasure.request_id} đã vào hàng đợi gửi tới máy điểm danh.")
