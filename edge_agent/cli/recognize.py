"""`edge-agent recognize`: who walks past a camera, one decision per face track.

With `--json`, each decision is one JSON line on stdout:
  {"track_id", "student_id" (the student, or "unknown" / "review"), "candidate_id" (for review),
   "outcome", "score", "margin", "scope" ("roster"/"school"), "other_class", "frames_used",
   "first_ts", "last_ts", "face_px" (the track's widest face up to its decision, pixels of the analysed frame)}
Without it, one Vietnamese line per decision. A summary goes to stderr, with the face sizes the camera saw:
the installer's check of hardware/README.md section 3 (faces >= 60 px wide in the analysed frame): the median
widest face of the tracks and how many never grew wider than 60 px, with a warning when that is most of them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.config import ConfigError, load_settings
from edge_agent.recognition.gallery_seal import GallerySeal, is_sealed
from edge_agent.store.school_keys import GALLERY_KEY, KeyError_, read_key
from models import ModelStore


def _usage(message: str) -> None:
    print(f"Lỗi: {message}", file=sys.stderr)
    raise typer.Exit(2)


def read_roster(spec: str | None) -> list[str] | None:
    """Student ids from a file (one per line) or a comma-separated list; None without a roster.

    A value with a comma, or one that names no existing file, is a list of ids: a class of 45 ids is far
    longer than a file name may be, so the file check must never raise (`OSError: File name too long`).
    """
    if not spec:
        return None
    path = Path(spec)
    is_file = False
    if "," not in spec:
        try:
            is_file = path.is_file()
        except (OSError, ValueError):  # too long for a file name, or a NUL byte: ids, not a path
            is_file = False
    if is_file:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _usage(f"không đọc được danh sách lớp {path} (--roster): {exc}")
        ids = [ln.split(",")[0].strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    else:
        ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids:
        _usage("danh sách lớp rỗng (--roster)")
    return ids


def _seal_for(gallery: Path, config: Path) -> GallerySeal | None:
    """The school's key when the gallery file is encrypted (installed galleries are); None for a plain file."""
    try:
        with open(gallery, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None  # Gallery.load says what is wrong with the path
    if not is_sealed(head):
        return None
    settings = load_settings(config)
    return GallerySeal(read_key(settings.paths.keys_dir, GALLERY_KEY), settings.school_code)


def _recognition_config(config: Path):
    """The school's `recognition` settings when its edge.toml is there (a broken one is an error), else the
    defaults: what the running agent would use."""
    from edge_agent.config import RecognitionConfig

    if not config.is_file():
        return RecognitionConfig()
    return load_settings(config).recognition


def describe(d) -> str:
    span = f"{d.first_ts:.1f}-{d.last_ts:.1f} s"
    if d.outcome == "accept":
        where = " (học sinh lớp khác)" if d.other_class else ""
        return (f"Vệt {d.track_id}: nhận diện {d.student_id}{where}, điểm {d.score:.2f}, chênh {d.margin:.2f}, "
                f"{d.frames_used} khung hình, mặt rộng {d.face_px:.0f} px, {span}")
    if d.outcome == "review":
        return (f"Vệt {d.track_id}: cần giáo viên xác nhận (gần giống {d.student_id}, điểm {d.score:.2f}), "
                f"{d.frames_used} khung hình, mặt rộng {d.face_px:.0f} px, {span}")
    return f"Vệt {d.track_id}: người lạ, {d.frames_used} khung hình, mặt rộng {d.face_px:.0f} px, {span}"


def face_size_summary(tally) -> list[str]:
    """Vietnamese lines on the widest face of each face track that ended (`PipelineStats.face_px`)."""
    from edge_agent.recognition.pipeline import MOUNT_MIN_FACE_PX

    n = tally.tracks
    if not n:
        return []
    small = tally.at_most(MOUNT_MIN_FACE_PX)
    lines = [f"Cỡ khuôn mặt (rộng nhất của mỗi vệt, trong khung đã phân tích): trung vị {tally.median():.0f} px; "
             f"{small}/{n} vệt không lần nào rộng quá {MOUNT_MIN_FACE_PX:.0f} px"]
    if 2 * small > n:
        lines.append(f"Cảnh báo: phần lớn khuôn mặt không rộng quá {MOUNT_MIN_FACE_PX:.0f} px, camera sẽ bỏ sót nhiều "
                     "học sinh. Đặt camera gần chỗ học sinh đi qua hơn hoặc dùng ống kính hẹp hơn "
                     "(hardware/README.md, mục 3).")
    return lines


def faces(
    source: Annotated[str, typer.Option("--source", help="Tệp video, số camera (0, 1...) hoặc rtsp://.")],
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1,
                                                   help="Dừng sau chừng này khung hình.")] = None,
    width: Annotated[int, typer.Option("--width", min=160, help="Khung rộng hơn thì thu nhỏ lại.")] = 640,
) -> None:
    """Kiểm tra vị trí camera: khuôn mặt người đi qua rộng bao nhiêu px (không cần thư viện khuôn mặt).

    Detection and tracking only, so a camera can be checked before any student is enrolled: one line per face
    track (its widest face), then the summary and warning of `recognize` (hardware/README.md section 3)."""
    from edge_agent.capture.sources import SourceError, VideoSource
    from edge_agent.recognition.pipeline import PipelineConfig, face_sizes, make_detectors

    store = ModelStore()
    detector = make_detectors(store.path(store.default("detector").name), 1)[0]  # the agent's detector settings
    frames_seen = 0

    def counted(frames):
        nonlocal frames_seen
        for item in frames:
            frames_seen += 1
            yield item

    def show(track) -> None:
        print(f"Vệt {track.track_id}: mặt rộng nhất {track.max_face_px:.0f} px, "
              f"{track.first_ts:.1f}-{track.last_ts:.1f} s", flush=True)

    try:
        tally = face_sizes(counted(VideoSource(source, max_width=width).frames(max_frames)), detector,
                           PipelineConfig(), on_track=show)
    except SourceError as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    print(f"{frames_seen} khung hình, {tally.tracks} vệt khuôn mặt", file=sys.stderr)
    for line in face_size_summary(tally) or ["Không thấy khuôn mặt nào: camera có nhìn vào chỗ học sinh đi qua?"]:
        print(line, file=sys.stderr)


def recognize(
    source: Annotated[str, typer.Option("--source", help="Tệp video, số camera (0, 1...) hoặc rtsp://.")],
    gallery: Annotated[Path, typer.Option("--gallery", help="Thư viện khuôn mặt đã cài (gallery.npz).")],
    json_out: Annotated[bool, typer.Option("--json", help="Mỗi quyết định một dòng JSON.")] = False,
    roster: Annotated[str | None, typer.Option(
        "--roster", help="Học sinh của lớp trong phòng: tệp (mỗi dòng một mã) hoặc các mã cách nhau bởi dấu "
                         "phẩy. Không có thì tìm cả trường với ngưỡng chặt.")] = None,
    threads: Annotated[int, typer.Option("--threads", min=1, max=8,
                                         help="Số luồng phát hiện (xen kẽ khung hình).")] = 1,
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1,
                                                   help="Dừng sau chừng này khung hình.")] = None,
    width: Annotated[int, typer.Option("--width", min=160, help="Khung rộng hơn thì thu nhỏ lại.")] = 640,
    thresholds_file: Annotated[Path | None, typer.Option(
        "--thresholds", help="Tệp ngưỡng TOML (mặc định: ngưỡng đã hiệu chỉnh).")] = None,
    config: Annotated[Path, typer.Option(
        "--config", "-c", help="edge.toml của trường (khoá giải mã thư viện, mô hình và cách quyết định của "
                               "trường).")] = Path("edge.toml"),
    embedder_choice: Annotated[str | None, typer.Option(
        "--embedder", help="mfn, sface hoặc fusion (mặc định: như edge.toml của trường, không có thì mfn).")] = None,
) -> None:
    """Nhận diện người đi qua camera: mỗi vệt khuôn mặt một quyết định.

    Decides as the school's running agent does: the embedder and the set-to-set decision of `recognition` in
    edge.toml when the file is there (the defaults otherwise), `--embedder` to try another."""
    # lazy: OpenCV, onnxruntime and FAISS load only for this command
    from edge_agent.capture.sources import SourceError, VideoSource
    from edge_agent.recognition.gallery import Gallery, GalleryError
    from edge_agent.recognition.pipeline import RecognitionPipeline, make_detectors, run_stream
    from edge_agent.recognition.recognizer import DecisionThresholds, Recognizer, TrackVoter
    from edge_agent.recognition.thresholds import ThresholdsError, load_thresholds
    from edge_agent.recognition.track_decision import SetDecision
    from edge_agent.vision.embedder_choice import CHOICES, build_embedder, identity, model_name
    from edge_agent.vision.landmarks import OnetLandmarker
    ids = read_roster(roster)
    store = ModelStore()
    try:
        rec = _recognition_config(config)
        choice = embedder_choice or rec.embedder
        if choice not in CHOICES:
            raise ValueError(f"--embedder {choice!r}: chọn một trong {', '.join(CHOICES)}")
        calibration = load_thresholds(thresholds_file, embedder=None if thresholds_file else model_name(choice))
        thresholds = DecisionThresholds.from_calibration(calibration)
        expected = identity(choice, store, calibration.fusion_weight if choice == "fusion" else None)
        if calibration.embedder_sha256 != expected.sha256:
            raise ValueError(f"ngưỡng được hiệu chỉnh cho mô hình {calibration.embedder} "
                             f"({calibration.embedder_sha256[:12]}), không phải mô hình đang dùng {expected.name} "
                             f"({expected.sha256[:12]}): chạy lại benchmarks/accuracy.py --calibrate")
        school = Gallery.load(gallery, expect_model_sha256=expected.sha256, seal=_seal_for(gallery, config))
    except (GalleryError, ThresholdsError, ValueError, ConfigError, KeyError_) as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    embedder, _ = build_embedder(choice, store, threads=1, weight=calibration.fusion_weight)
    if school.dim != embedder.dim:
        print(f"Lỗi: thư viện khuôn mặt có {school.dim} chiều, mô hình {embedder.dim}", file=sys.stderr)
        raise typer.Exit(2)
    detectors = make_detectors(store.path(store.default("detector").name), threads,
                               landmarker=OnetLandmarker.from_store(store))
    pipeline = RecognitionPipeline(detectors[0], embedder, TrackVoter(
        Recognizer(school, thresholds, roster=ids), set_decision=SetDecision() if rec.set_decision else None))
    start = time.perf_counter()

    def emit(d) -> None:
        print(json.dumps(d.to_json_dict(), ensure_ascii=False) if json_out else describe(d), flush=True)

    try:
        frames = VideoSource(source, max_width=width).frames(max_frames)
        for d in run_stream(frames, pipeline, detectors):
            emit(d)
    except SourceError as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        for d in pipeline.finish():
            emit(d)
    elapsed = max(time.perf_counter() - start, 1e-9)
    s = pipeline.stats
    print(f"{s.frames} khung hình ({s.frames / elapsed:.1f} khung/giây), {s.decisions} quyết định, "
          f"{s.embeddings} lần trích đặc trưng", file=sys.stderr)
    for line in face_size_summary(s.face_px):
        print(line, file=sys.stderr)
