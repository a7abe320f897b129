"""`enroll export`: the school's gallery package (embeddings, ids, classes, model, version; no photos), encrypted.

Only active students who still have every required consent are exported. `edge-agent gallery import FILE`
installs the package on the edge box (`edge_agent.recognition.gallery_package` describes the format).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.recognition.gallery_package import PackageError, build_package
from edge_agent.store import school_db
from enrollment_tools import consent, templates
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


def export_package(sch, out: Path, actor: str) -> dict:
    conn = sch.conn
    model = templates.embedder_id(settings=sch.settings)
    cipher = templates.TemplateCipher(sch.gallery_key, sch.code)
    tpl = templates.load(conn, cipher, model.sha256)
    students = {r[0]: r[1] or "" for r in conn.execute("SELECT id, class_id FROM students WHERE status = 'active'")}
    no_consent = consent.without_consent(conn)
    keep = [i for i, sid in enumerate(tpl.student_ids) if sid in students and sid not in no_consent]
    skipped = sorted({sid for sid in tpl.student_ids if sid not in students or sid in no_consent})
    if not keep:
        raise EnrollError("chưa có mẫu khuôn mặt nào để xuất (chạy `enroll photos` trước)")
    ids = [tpl.student_ids[i] for i in keep]
    version = templates.current_version(conn)
    created = school_db.now_iso()
    try:
        data = build_package(sch.code, sch.gallery_key, embeddings=tpl.embeddings[keep], student_ids=ids,
                             class_ids=[students[s] for s in ids], model_name=model.name, model_sha256=model.sha256,
                             gallery_version=version, created_at=created)
    except PackageError as exc:
        raise EnrollError(str(exc)) from None
    if not out.parent.exists():
        out.parent.mkdir(mode=0o700, parents=True)
    fd, tmp = tempfile.mkstemp(prefix=".gallery-", suffix=".pkg", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sha = hashlib.sha256(data).hexdigest()
    result = {"file": str(out), "school": sch.code, "gallery_version": version, "created_at": created,
              "students": len(set(ids)), "templates": len(ids), "model": model.name, "sha256": sha,
              "skipped_without_consent": skipped}
    with school_db.transaction(conn):
        conn.execute("INSERT INTO gallery_exports (gallery_version, created_at, actor, file_name, sha256, n_students, "
                     "n_templates) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (version, created, actor, out.name, sha, result["students"], len(ids)))
        school_db.audit(conn, actor, "enroll.export", out.name, json.dumps(
            {k: result[k] for k in ("gallery_version", "students", "templates", "sha256")}))
    return result


def export(school: SchoolOpt, out: Annotated[Path, typer.Option("--out", help="tệp gói cần ghi")],
           config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR, as_json: JsonOpt = False) -> None:
    """Ghi gói ảnh mẫu đã mã hoá cho máy điểm danh của trường (không có ảnh)."""
    with command(as_json) as o, open_school(config, school) as sch:
        r = export_package(sch, out, actor)
        o.result(r, f"Đã xuất gói phiên bản {r['gallery_version']}: {r['students']} học sinh, {r['templates']} mẫu "
                    f"→ {out}. Cài trên máy điểm danh: edge-agent gallery import {out.name}")
