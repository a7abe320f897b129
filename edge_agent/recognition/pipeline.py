"""The real-time recognition loop: detect → track → embed (only when a track needs it) → vote.

`RecognitionPipeline.process(frame, ts)` handles one frame on the calling thread. `run_stream()` keeps
the same order of results but spreads detection, the heavy per-frame step, over one worker thread per
detector on alternate frames, each detector with its own single-threaded, non-spinning session; tracking,
quality and the few embeddings run in frame order on the calling thread. One decision per track.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import Queue

import numpy as np

from edge_agent.recognition.recognizer import TrackDecision, TrackVoter
from edge_agent.recognition.tracker import FaceTracker, TrackerConfig
from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.embedder import Embedder
from edge_agent.vision.faces import embed_detections
from edge_agent.vision.landmarks import OnetLandmarker
from edge_agent.vision.quality import assess
from edge_agent.vision.types import Detection

Frame = tuple[np.ndarray, float]  # (BGR image, timestamp in seconds)


@dataclass(frozen=True)
class PipelineConfig:
    detect_score: float = 0.5  # detector threshold: low enough for the tracker's second association
    min_face_px: float = 20.0
    refine_landmarks: bool = True  # re-measure landmarks of the faces about to be embedded (see YuNetDetector.refine)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


def make_detectors(model_path, count: int, config: PipelineConfig | None = None,
                   landmarker: OnetLandmarker | None = None) -> list[YuNetDetector]:
    """`count` detectors (one per worker thread), each with its own single-threaded session; the landmarker
    (used on the calling thread only, for the faces about to be embedded) is shared."""
    cfg = config or PipelineConfig()
    return [YuNetDetector(model_path, score_threshold=cfg.detect_score, min_face_px=cfg.min_face_px, threads=1,
                          refine_landmarks=cfg.refine_landmarks, landmarker=landmarker)
            for _ in range(max(1, count))]


@dataclass
class PipelineStats:
    frames: int = 0
    detections: int = 0
    embeddings: int = 0
    decisions: int = 0


class RecognitionPipeline:
    """Tracking and voting state of one camera; feed frames in order."""

    def __init__(self, detector: YuNetDetector, embedder: Embedder, voter: TrackVoter,
                 config: PipelineConfig | None = None,
                 on_stage: Callable[[str, float], None] | None = None) -> None:
        self.config = config or PipelineConfig()
        # on_stage(stage, seconds) after each detect / embed / match step (the service's latency histograms)
        self.on_stage = on_stage
        self.detector = detector
        self.embedder = embedder
        self.voter = voter
        self.tracker = FaceTracker(self.config.tracker)
        self.stats = PipelineStats()

    def process(self, frame: np.ndarray, ts: float) -> list[TrackDecision]:
        start = time.perf_counter()
        detections = self.detector.detect(frame)
        if self.on_stage is not None:
            self.on_stage("detect", time.perf_counter() - start)
        return self.process_detections(frame, ts, detections)

    def process_detections(self, frame: np.ndarray, ts: float,
                           detections: list[Detection]) -> list[TrackDecision]:
        """The per-frame work after detection (tracking, quality, embedding, voting), in frame order."""
        self.stats.frames += 1
        self.stats.detections += len(detections)
        update = self.tracker.update(detections, ts)
        decisions: list[TrackDecision] = []
        to_embed: list[tuple[int, float, Detection]] = []
        for track in update.active:
            self.voter.seen(track.track_id, ts)
            det = track.detection
            if det is None or self.voter.is_decided(track.track_id):
                continue
            quality = assess(frame, det).score
            if self.voter.wants_embedding(track.track_id, update.frame, quality):
                to_embed.append((track.track_id, quality, det))
        if to_embed:
            # only the few faces embedded this frame are refined; enrolment aligns the same way
            start = time.perf_counter()
            embeddings = embed_detections(frame, [d for _, _, d in to_embed], self.detector, self.embedder,
                                          refine=self.config.refine_landmarks)
            embedded = time.perf_counter()
            self.stats.embeddings += len(to_embed)
            for (tid, quality, _), emb in zip(to_embed, embeddings, strict=True):
                decision = self.voter.add(tid, update.frame, ts, quality, emb)
                if decision is not None:
                    decisions.append(decision)
            if self.on_stage is not None:
                self.on_stage("embed", embedded - start)
                self.on_stage("match", time.perf_counter() - embedded)
        for track in update.finished:
            decision = self.voter.finish(track.track_id)
            if decision is not None:
                decisions.append(decision)
        self.stats.decisions += len(decisions)
        return decisions

    def set_roster(self, student_ids: Collection[str] | None) -> None:
        """Roster-first matching: search these students first (None: the whole school)."""
        self.voter.recognizer.set_roster(student_ids)

    def undecided_faces(self) -> list[tuple[int, Detection]]:
        """(track id, its latest detection) of every live track seen this frame and not decided yet."""
        return [(t.track_id, t.detection) for t in self.tracker.tracks
                if t.detection is not None and not self.voter.is_decided(t.track_id)]

    def live_track_ids(self) -> set[int]:
        return {t.track_id for t in self.tracker.tracks}

    def finish(self) -> list[TrackDecision]:
        """End of stream: decide every track still open."""
        out = [d for t in self.tracker.flush() if (d := self.voter.finish(t.track_id)) is not None]
        self.stats.decisions += len(out)
        return out


def run_stream(frames: Iterable[Frame], pipeline: RecognitionPipeline,
               detectors: Sequence[YuNetDetector] = ()) -> Iterator[TrackDecision]:
    """Decisions for a stream of frames, detection spread over one thread per detector in `detectors`.

    Each detector has its own onnxruntime session and serves one worker thread; the workers take
    alternate frames. Without detectors (or with one), everything runs on the calling thread.
    """
    if len(detectors) <= 1:
        det = detectors[0] if detectors else pipeline.detector
        for frame, ts in frames:
            yield from pipeline.process_detections(frame, ts, det.detect(frame))
        yield from pipeline.finish()
        return
    spare: Queue[YuNetDetector] = Queue()
    for d in detectors:
        spare.put(d)
    local = threading.local()

    def detect(image: np.ndarray) -> list[Detection]:
        det = getattr(local, "detector", None)
        if det is None:
            det = local.detector = spare.get_nowait()  # one detector per worker thread
        return det.detect(image)

    workers = len(detectors)
    pending: deque[tuple[np.ndarray, float, Future[list[Detection]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detect") as pool:
        for frame, ts in frames:
            pending.append((frame, ts, pool.submit(detect, frame)))
            # frames in flight: enough that the workers keep detecting while this thread embeds
            while len(pending) > 2 * workers:
                f, t, fut = pending.popleft()
                yield from pipeline.process_detections(f, t, fut.result())
        while pending:
            f, t, fut = pending.popleft()
            yield from pipeline.process_detections(f, t, fut.result())
    yield from pipeline.finish()
