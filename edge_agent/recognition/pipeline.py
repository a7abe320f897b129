"""The real-time recognition loop: detect → track → embed (only when a track needs it) → vote.

`RecognitionPipeline.process(frame, ts)` handles one frame on the calling thread. `run_stream()` keeps
the same order of results but spreads detection, the heavy per-frame step, over one worker thread per
detector on alternate frames, each detector with its own single-threaded, non-spinning session; tracking,
quality and the few embeddings run in frame order on the calling thread. One decision per track.

Every decision carries the widest face of its track so far (`TrackDecision.face_px`), and `PipelineStats.face_px`
counts the tracks that ended by the widest face each reached: the camera-placement check (hardware/README.md
section 3 asks for faces of at least `MOUNT_MIN_FACE_PX` in the analysed frame; the walk-by benchmark names far
fewer students below).

With a presentation-attack detector (`pad`), the tracker keeps the PAD views of each track's best frames
and the detector scores them once, when the track is decided (`TrackDecision.pad`); the pipeline changes no
decision itself: the service reports the score or, on an enforcing camera, sends the track to review.
"""

from __future__ import annotations

import bisect
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from queue import Queue

import numpy as np

from edge_agent.recognition.recognizer import TrackDecision, TrackVoter
from edge_agent.recognition.tracker import FaceTracker, Track, TrackerConfig
from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.embedder import Embedder
from edge_agent.vision.faces import embed_detections
from edge_agent.vision.landmarks import OnetLandmarker
from edge_agent.vision.pad import REASON_VI, TRACK_FRAMES, PadDecision, PresentationAttackDetector
from edge_agent.vision.pad_features import PadInputError
from edge_agent.vision.quality import assess
from edge_agent.vision.types import Detection

Frame = tuple[np.ndarray, float]  # (BGR image, timestamp in seconds)


@dataclass(frozen=True)
class PipelineConfig:
    detect_score: float = 0.5  # detector threshold: low enough for the tracker's second association
    min_face_px: float = 20.0
    refine_landmarks: bool = True  # re-measure landmarks of the faces about to be embedded (see YuNetDetector.refine)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    pad_threshold: float | None = None  # this camera's PAD threshold (None: the model's own)
    pad_frames: int = TRACK_FRAMES  # best frames of a track kept and scored by PAD


@dataclass(frozen=True)
class TrackPad:
    """PAD's verdict on one track: `decision` None means not measured (`note` says why); `best` is the best
    kept view (PAD region, detection in it) for the teacher's review crop."""

    decision: PadDecision | None
    note: str = ""
    best: tuple[np.ndarray, Detection] | None = None
    seconds: float = 0.0  # time PAD took on this track

    @property
    def attack(self) -> bool:
        return self.decision is not None and self.decision.attack

    def to_json_dict(self) -> dict:
        d = self.decision
        if d is None:
            return {"measured": False, "note": self.note}
        return {"measured": True, "score": round(d.score, 4), "threshold": round(d.threshold, 4),
                "attack": d.attack, "frames": d.frames}


def make_detectors(model_path, count: int, config: PipelineConfig | None = None,
                   landmarker: OnetLandmarker | None = None) -> list[YuNetDetector]:
    """`count` detectors (one per worker thread), each with its own single-threaded session; the landmarker
    (used on the calling thread only, for the faces about to be embedded) is shared."""
    cfg = config or PipelineConfig()
    return [YuNetDetector(model_path, score_threshold=cfg.detect_score, min_face_px=cfg.min_face_px, threads=1,
                          refine_landmarks=cfg.refine_landmarks, landmarker=landmarker)
            for _ in range(max(1, count))]


MOUNT_MIN_FACE_PX = 60.0  # hardware/README.md section 3: a passing face >= 60 px wide in the analysed frame
FACE_PX_BOUNDS = (24.0, 32.0, 40.0, 48.0, MOUNT_MIN_FACE_PX, 80.0, 120.0, 160.0)  # histogram upper bounds


@dataclass
class FaceSizeTally:
    """Face tracks that ended, counted by their widest face (pixels of the analysed frame) in the bands of
    `FACE_PX_BOUNDS` (a face of exactly a bound counts in that bound's band; the last band is open); the
    latest `RECENT` widths are kept for a median."""

    RECENT = 1000
    counts: list[int] = field(default_factory=lambda: [0] * (len(FACE_PX_BOUNDS) + 1))
    total_px: float = 0.0
    recent: deque = field(default_factory=lambda: deque(maxlen=FaceSizeTally.RECENT))

    def add(self, face_px: float) -> None:
        self.counts[bisect.bisect_left(FACE_PX_BOUNDS, face_px)] += 1
        self.total_px += float(face_px)
        self.recent.append(float(face_px))

    def latest(self, last: int = RECENT) -> list[float]:
        """The widest faces of the latest `last` tracks or fewer, oldest first (a copy)."""
        return list(self.recent)[-last:] if last > 0 else []

    def latest_figures(self, bound: float, last: int = RECENT) -> tuple[int, int, float | None]:
        """(the latest `last` tracks or fewer, how many of them were no wider than `bound`, their median widest
        face or None): one camera's placement figures for `edge-agent status` and the heartbeat."""
        latest = self.latest(last)
        return len(latest), sum(w <= bound for w in latest), statistics.median(latest) if latest else None

    def median(self) -> float | None:
        """Median widest face of the latest tracks (None before any track ended)."""
        return statistics.median(self.recent) if self.recent else None

    @property
    def tracks(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, tracks at or under it), the last bound +inf: a Prometheus histogram's buckets."""
        out, running = [], 0
        for bound, n in zip((*FACE_PX_BOUNDS, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def at_most(self, bound: float) -> int:
        """Tracks whose widest face was no wider than `bound` (one of `FACE_PX_BOUNDS`)."""
        return dict(self.cumulative())[bound]


@dataclass
class PipelineStats:
    frames: int = 0
    detections: int = 0
    embeddings: int = 0
    decisions: int = 0
    pad_tracks: int = 0  # tracks PAD judged (once each)
    pad_s: float = 0.0  # time spent in PAD
    face_px: FaceSizeTally = field(default_factory=FaceSizeTally)  # ended tracks by their widest face


def face_sizes(frames: Iterable[Frame], detector: YuNetDetector, config: PipelineConfig | None = None,
               on_track: Callable[[Track], None] | None = None) -> FaceSizeTally:
    """The placement check without recognition (no gallery needed: a camera checked before enrolment):
    detection and tracking only, every track counted when it ends, as `RecognitionPipeline` counts it;
    `on_track(track)` for each track that ended."""
    cfg = config or PipelineConfig()
    tracker, tally = FaceTracker(cfg.tracker), FaceSizeTally()

    def ended(track: Track) -> None:
        tally.add(track.max_face_px)
        if on_track is not None:
            on_track(track)

    for frame, ts in frames:
        for track in tracker.update(detector.detect(frame), ts).finished:
            ended(track)
    for track in tracker.flush():
        ended(track)
    return tally


class RecognitionPipeline:
    """Tracking and voting state of one camera; feed frames in order."""

    def __init__(self, detector: YuNetDetector, embedder: Embedder, voter: TrackVoter,
                 config: PipelineConfig | None = None, pad: PresentationAttackDetector | None = None,
                 on_stage: Callable[[str, float], None] | None = None) -> None:
        self.config = config or PipelineConfig()
        # on_stage(stage, seconds) after each detect / embed / match step (the service's latency histograms)
        self.on_stage = on_stage
        self.detector = detector
        self.embedder = embedder
        self.voter = voter
        self.pad = pad
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
        active = {t.track_id: t for t in update.active}
        for track in update.active:
            self.voter.seen(track.track_id, ts)
            det = track.detection
            if det is None or self.voter.is_decided(track.track_id):
                continue
            quality = assess(frame, det).score
            if self.pad is not None:
                track.keep_pad_view(quality, frame, det, self.config.pad_frames)
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
                    decisions.append(self._judge(decision, active.get(tid)))
            if self.on_stage is not None:
                self.on_stage("embed", embedded - start)
                self.on_stage("match", time.perf_counter() - embedded)
        for track in update.finished:
            self.stats.face_px.add(track.max_face_px)
            decision = self.voter.finish(track.track_id)
            if decision is not None:
                decisions.append(self._judge(decision, track))
        self.stats.decisions += len(decisions)
        return decisions

    def _judge(self, decision: TrackDecision, track: Track | None) -> TrackDecision:
        """Attach the track's widest face so far and PAD's verdict to its decision (PAD scored once, from the
        views the tracker kept)."""
        if track is not None:
            decision = replace(decision, face_px=track.max_face_px)
        if self.pad is None:
            return decision
        views = track.pad_views if track is not None else []
        best = (views[0][1], views[0][2]) if views else None
        started = time.perf_counter()
        try:
            pad = self.pad.score_track([(region, det) for _, region, det in views], self.config.pad_frames)
            override = self.config.pad_threshold
            if override is not None:
                attack = pad.score >= override
                pad = replace(pad, threshold=float(override), attack=attack, reason=REASON_VI if attack else "")
            verdict = TrackPad(pad, best=best)
        except PadInputError as exc:  # no face of the track was large enough: not measured, never "live"
            verdict = TrackPad(None, note=str(exc), best=best)
        verdict = replace(verdict, seconds=time.perf_counter() - started)
        self.stats.pad_s += verdict.seconds
        self.stats.pad_tracks += 1
        if track is not None:
            track.pad_views.clear()  # decided: the crops are not needed any more
        return replace(decision, pad=verdict)

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
        ended = self.tracker.flush()
        for t in ended:
            self.stats.face_px.add(t.max_face_px)
        out = [self._judge(d, t) for t in ended if (d := self.voter.finish(t.track_id)) is not None]
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
