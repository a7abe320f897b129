"""`enroll capture ID --source CAMERA|VIDEO`: guided capture until K good, varied templates are taken.

Frames go through the same gates as photos; the operator is told what to change ("lại gần hơn", "nhìn thẳng
vào camera", "thêm ánh sáng"). A frame is kept only if it differs enough from the frames already kept
(cosine similarity below `--variety`), so the K templates are not K copies of one pose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer

from edge_agent.vision.quality import QualityGate
from enrollment_tools import consent, fields, templates
from enrollment_tools.context import DEFAULT_ACTOR, ActorOpt, ConfigOpt, EnrollError, JsonOpt, command, open_school
from enrollment_tools.enrol import enrol_students
from enrollment_tools.faces import PhotoResult, analyze_image, make_analyzer, thumbnail
from enrollment_tools.settings import duplicate_threshold

GUIDE = {
    "no_face": "Không thấy khuôn mặt: đứng trước camera",
    "multi_face": "Chỉ một người đứng trước camera",
    "too_small": "Lại gần camera hơn",
    "blurry": "Giữ yên, không cử động",
    "pose": "Nhìn thẳng vào camera",
    "dark": "Thêm ánh sáng (bật đèn, không đứng ngược sáng)",
    "bright": "Bớt ánh sáng (tránh nắng chiếu thẳng)",
    "low_quality": "Nhìn thẳng vào camera và giữ yên",
    "similar": "Tốt! Xoay nhẹ đầu sang trái hoặc phải một chút",
}


def open_source(source: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        raise EnrollError(f"không mở được nguồn hình '{source}' (số camera USB hoặc tệp video)")
    return cap


def guided_frames(analyzer, cap: cv2.VideoCapture, k: int, gate: QualityGate, *, step: int, variety: float,
                  max_frames: int, keep_thumbnail: bool, source: str, student_id: str, say):
    """Read frames until K good, varied ones are taken; returns (taken results, guidance counts)."""
    taken: list[PhotoResult] = []
    hints: dict[str, int] = {}
    last_hint = None
    n = 0
    while len(taken) < k and n < max_frames:
        ok, frame = cap.read()
        if not ok or frame is None:
            break
        n += 1
        if (n - 1) % step:
            continue
        code, reasons, det, q = analyze_image(analyzer, frame, gate)
        hint = code
        if code == "exposure" and q is not None:
            hint = "dark" if q.exposure < gate.exposure_range[0] else "bright"
        if code == "ok":
            emb = analyzer.embed_faces(frame, [det], refined=True)[0]
            if taken and max(float(np.dot(emb, t.embedding)) for t in taken) >= variety:
                hint = "similar"
            else:
                taken.append(PhotoResult(f"{source}#frame{n}", student_id, "", "ok", [], q.score, emb,
                                         thumbnail(frame, det) if keep_thumbnail else None))
                say(f"Đã lấy mẫu {len(taken)}/{k} (khung hình {n}, điểm chất lượng {q.score:.2f})")
                last_hint = None
                continue
        hints[hint] = hints.get(hint, 0) + 1
        if hint != last_hint:
            say(GUIDE.get(hint, reasons[0][1] if reasons else hint))
            last_hint = hint
    return taken, hints, n


def capture(student: Annotated[str, typer.Argument(help="mã định danh 12 số")],
            source: Annotated[str, typer.Option("--source", help="số camera USB (0) hoặc tệp video")],
            k: Annotated[int, typer.Option("--k", min=1, max=10, help="số mẫu cần lấy")] = 3,
            variety: Annotated[float, typer.Option(help="độ giống tối đa (cosine) với khung đã giữ")] = 0.92,
            step: Annotated[int, typer.Option(min=1, help="phân tích mỗi khung thứ N")] = 2,
            max_frames: Annotated[int, typer.Option(min=1, help="dừng sau chừng này khung hình")] = 900,
            force: Annotated[bool, typer.Option("--force", help="đăng ký cả khi bị đánh dấu trùng")] = False,
            keep_thumbnails: Annotated[bool, typer.Option("--keep-thumbnails", help="giữ một ảnh mặt nhỏ")] = False,
            config: ConfigOpt = Path("edge.toml"), actor: ActorOpt = DEFAULT_ACTOR, as_json: JsonOpt = False) -> None:
    """Đăng ký một học sinh từ camera (hoặc tệp video), hướng dẫn người chụp cần chỉnh gì."""

    with command(as_json) as out, open_school(config) as sch:
        try:
            sid = fields.student_id(student)
        except ValueError as exc:
            raise EnrollError(str(exc)) from None
        row = sch.conn.execute("SELECT status FROM students WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise EnrollError(f"không có học sinh {sid} trong danh sách của trường {sch.code}")
        if row[0] != "active":
            raise EnrollError(f"học sinh {sid} không còn học tại trường ({row[0]})")
        missing = consent.missing_consent(sch.conn, sid)
        if missing:
            raise EnrollError(f"chưa có đồng ý của {', '.join(missing)} cho học sinh {sid}: không được đăng ký "
                              "khuôn mặt (ghi nhận bằng `enroll consent set`)", missing=missing)
        threshold = duplicate_threshold(sch.settings)
        analyzer = make_analyzer(templates.embedder_choice(sch.settings), templates.fusion_weight_of(sch.settings))
        cap = open_source(source)
        say = (lambda m: None) if as_json else (lambda m: out.console.print(m))
        try:
            taken, hints, frames = guided_frames(analyzer, cap, k, QualityGate(), step=step, variety=variety,
                                                 max_frames=max_frames, keep_thumbnail=keep_thumbnails,
                                                 source=source, student_id=sid, say=say)
        finally:
            cap.release()
        if not taken:
            raise EnrollError(f"không lấy được khung hình đạt chất lượng nào sau {frames} khung hình", guidance=hints)
        model = templates.embedder_id(settings=sch.settings)
        cipher = templates.TemplateCipher(sch.gallery_key, sch.code)
        outcomes, version = enrol_students(sch.conn, cipher, model, {sid: taken}, k=k, duplicate_threshold=threshold,
                                           force=force, source="capture", actor=actor,
                                           keep_thumbnails=keep_thumbnails)
        o = outcomes[sid]
        data = {"student_id": sid, "frames_read": frames, "taken": len(taken), "added": o.added,
                "duplicates": o.duplicates, "guidance": hints, "gallery_version": version}
        if o.duplicates and not o.added:
            raise EnrollError(f"khuôn mặt giống học sinh {o.duplicates[0]['other']} (điểm {o.duplicates[0]['score']}):"
                              " không đăng ký; kiểm tra lại, dùng --force nếu đúng là hai người", **data)
        out.result(data, f"Đã đăng ký {o.added} mẫu cho {sid}" + ("" if len(taken) >= k else
                                                                   f" (chỉ lấy được {len(taken)}/{k})"))
