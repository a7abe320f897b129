"""One enrolment photo through the recognition vision stack: load, exactly one face, quality gates, embed.

`analyze_photo` is what each worker process runs; `PhotoPool` spreads photos over `--workers` processes,
each with its own single-threaded detector and embedder (the same models and code as recognition).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge_agent.vision.image_io import ImageError, load_image
from edge_agent.vision.quality import Quality, QualityGate
from edge_agent.vision.types import Detection

SECOND_FACE_RATIO = 0.5   # a face at least half the size of the largest one counts as a second person
THUMB_PX = 128
LOW_RES_MIN_PX = 48.0     # faces of 48 px up to the gate's minimum are enrolled after upscaling (low_resolution)

MESSAGES = {
    "no_face": "không tìm thấy khuôn mặt",
    "multi_face": "ảnh có {n} khuôn mặt; cần ảnh chỉ có một người",
    "not_an_image": "{detail}",
}


@dataclass
class PhotoResult:
    path: str
    student_id: str
    sha256: str
    code: str                       # "ok" or the first rejection code
    reasons: list[tuple[str, str]]  # (code, Vietnamese message) of every failed check
    quality: float = 0.0
    embedding: np.ndarray | None = None
    thumbnail: bytes | None = None
    low_resolution: bool = False    # a 48-80 px face enrolled after upscaling (sharpness and pose passed)

    @property
    def ok(self) -> bool:
        return self.code == "ok"

    @property
    def message(self) -> str:
        return "; ".join(m for _, m in self.reasons)


def gate_reasons(q: Quality, gate: QualityGate) -> list[tuple[str, str]]:
    """The gate's Vietnamese reasons, each with a stable code (same checks, same order as `QualityGate`)."""
    codes = []
    if q.face_px < gate.min_face_px:
        codes.append("too_small")
    if q.sharpness < gate.min_sharpness:
        codes.append("blurry")
    if abs(q.yaw) > gate.max_yaw:
        codes.append("pose")
    if abs(q.pitch) > gate.max_pitch:
        codes.append("pose")
    lo, hi = gate.exposure_range
    if q.exposure < lo or q.exposure > hi:
        codes.append("exposure")
    messages = gate.reasons(q)
    if len(messages) > len(codes):
        codes.append("low_quality")
    return list(zip(codes, messages, strict=True))


def significant_faces(found: list[Detection]) -> list[Detection]:
    """Faces big enough to be a person in the photo, not a face far in the background."""
    if not found:
        return []
    biggest = max(min(d.width, d.height) for d in found)
    return [d for d in found if min(d.width, d.height) >= SECOND_FACE_RATIO * biggest]


def thumbnail(image: np.ndarray, det: Detection, px: int = THUMB_PX) -> bytes:
    """A small square JPEG around the face, for the teacher's kiosk."""
    x1, y1, x2, y2 = det.box
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 0.65
    h, w = image.shape[:2]
    a, b = int(max(0, cx - half)), int(max(0, cy - half))
    c, d = int(min(w, cx + half)), int(min(h, cy + half))
    crop = cv2.resize(image[b:d, a:c], (px, px), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else b""


def analyze_image(analyzer, image: np.ndarray, gate: QualityGate) -> tuple[str, list, Detection | None, Quality | None]:
    found = significant_faces(analyzer.detect(image, padded=True))
    if not found:
        return "no_face", [("no_face", MESSAGES["no_face"])], None, None
    if len(found) > 1:
        return "multi_face", [("multi_face", MESSAGES["multi_face"].format(n=len(found)))], None, None
    det = analyzer.refine(image, found[0:1])[0]  # aligned on the same landmarks as recognition
    q = analyzer.quality(image, found[0], det, gate)
    reasons = gate_reasons(q, gate)
    return (reasons[0][0] if reasons else "ok"), reasons, det, q


def analyze_photo(analyzer, path: str, student_id: str, gate: QualityGate, keep_thumbnail: bool) -> PhotoResult:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return PhotoResult(path, student_id, "", "not_an_image", [("not_an_image", f"không đọc được tệp ({exc})")])
    sha = hashlib.sha256(data).hexdigest()
    try:
        image = load_image(path)
    except ImageError as exc:
        return PhotoResult(path, student_id, sha, "not_an_image", [("not_an_image", exc.message)])
    code, reasons, det, q = analyze_image(analyzer, image, gate)
    low_res = False
    if code == "too_small" and q is not None and q.face_px >= LOW_RES_MIN_PX \
            and {c for c, _ in reasons} == {"too_small"}:
        # an ID photo's small face: sharpness, pose and exposure passed at its own size, so upscale the photo
        # until the face reaches the gate's minimum and enrol it, flagged low_resolution
        scale = gate.min_face_px / q.face_px * 1.05
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        code2, _, det2, q2 = analyze_image(analyzer, big, replace(gate, min_sharpness=0.0))
        if code2 == "ok":
            code, reasons, det, image, low_res = "ok", [], det2, big, True
            q = replace(q, score=q2.score)
    result = PhotoResult(path, student_id, sha, code, reasons, quality=q.score if q else 0.0, low_resolution=low_res)
    if code == "ok":
        result.embedding = analyzer.embed_faces(image, [det], refined=True)[0]
        if keep_thumbnail:
            result.thumbnail = thumbnail(image, det)
    return result


# ---- worker processes ---------------------------------------------------------------------------------------
_WORKER: dict = {}


def make_analyzer(choice: str = "mfn", weight: float | None = None, threads: int = 1):
    """The enrolment analyzer with the school's embedder (mfn | sface | fusion)."""
    # lazy: onnxruntime loads only when faces are analysed
    from edge_agent.vision.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer.from_store(threads=threads)
    if choice == "mfn":
        return analyzer
    from edge_agent.vision.embedder_choice import build_embedder

    return FaceAnalyzer(analyzer.detector, build_embedder(choice, threads=threads, weight=weight)[0], analyzer.gate)


def _init_worker(gate: QualityGate, keep_thumbnail: bool, choice: str = "mfn", weight: float | None = None) -> None:
    cv2.setNumThreads(1)
    _WORKER.update(analyzer=make_analyzer(choice, weight), gate=gate, keep=keep_thumbnail)


def _run_chunk(chunk: list[tuple[str, str]]) -> list[PhotoResult]:
    return [analyze_photo(_WORKER["analyzer"], p, s, _WORKER["gate"], _WORKER["keep"]) for p, s in chunk]


class PhotoPool:
    """Analyse photos with N processes (N = 1: in this process)."""

    def __init__(self, workers: int, gate: QualityGate, keep_thumbnail: bool, chunk: int = 8,
                 embedder: str = "mfn", weight: float | None = None):
        self.workers, self.gate, self.keep, self.chunk = max(1, workers), gate, keep_thumbnail, chunk
        self.embedder, self.weight = embedder, weight

    def run(self, tasks: Iterable[tuple[str, str]], on_done: Callable[[int], None] | None = None
            ) -> Iterator[PhotoResult]:
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= self.chunk:
            _init_worker(self.gate, self.keep, self.embedder, self.weight)
            for p, s in tasks:
                yield analyze_photo(_WORKER["analyzer"], p, s, self.gate, self.keep)
                if on_done:
                    on_done(1)
            return
        chunks = [tasks[i:i + self.chunk] for i in range(0, len(tasks), self.chunk)]
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(self.gate, self.keep, self.embedder, self.weight)) as pool:
            pending = set()
            it = iter(chunks)
            for c in it:  # keep a bounded number of chunks in flight
                pending.add(pool.submit(_run_chunk, c))
                if len(pending) >= self.workers * 4:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    results = fut.result()
                    yield from results
                    if on_done:
                        on_done(len(results))
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(pool.submit(_run_chunk, nxt))
