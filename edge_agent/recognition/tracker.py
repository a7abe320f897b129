"""A small ByteTrack-style face tracker: one id per face from the frame it appears to the frame it leaves.

Per frame: every track predicts its box with a constant-velocity motion model (an alpha-beta filter on
centre, width and height); confirmed and recently lost tracks are matched to the high-score
detections first, then the tracks still unmatched to the low-score detections (a face half turned
away or blurred keeps its id), then unconfirmed tracks to what is left. A pair may match when the
boxes overlap (IoU) or, for a face moving fast, when their centres are close relative to the face
size. New tracks are born from unmatched high-score detections and confirmed after `min_hits`
consecutive frames; a track unmatched for more than `max_lost` frames ends and is reported once in
`TrackerUpdate.finished`, so whoever votes over a track knows when it is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge_agent.vision.pad_features import PadInputError, pad_region
from edge_agent.vision.types import Detection

_INF = 1e6


class TrackState(StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    ENDED = "ended"


@dataclass(frozen=True)
class TrackerConfig:
    high_score: float = 0.8  # detections at or above it start and keep tracks
    low_score: float = 0.5  # detections between low and high only keep existing tracks
    min_iou: float = 0.2  # boxes overlapping this much may match ...
    max_centre_dist: float = 0.8  # ... or centres closer than this many face sizes
    min_hits: int = 2  # consecutive matched frames before a track is confirmed
    max_lost: int = 15  # frames a confirmed track survives unmatched (0.5 s at 30 FPS)
    alpha: float = 0.7  # weight of the measurement in the position update
    beta: float = 0.3  # weight of the residual in the velocity update


def _to_cxcywh(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=np.float64)


def _to_xyxy(s: np.ndarray) -> np.ndarray:
    cx, cy, w, h = s
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


@dataclass(eq=False)
class Track:
    """One face followed across frames. `detection` is this frame's detection (None when unmatched)."""

    track_id: int
    state_vec: np.ndarray  # cx, cy, w, h (filtered)
    velocity: np.ndarray  # per frame
    score: float
    detection: Detection | None
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    state: TrackState = TrackState.TENTATIVE
    hits: int = 1
    lost_frames: int = 0
    history: list[int] = field(default_factory=list)  # frame indices with a matched detection
    max_face_px: float = 0.0  # width of the widest face matched to the track (pixels of the analysed frame)
    # presentation-attack views: (quality, pad_region crop, detection in it) of the best frames, best first
    pad_views: list[tuple[float, np.ndarray, Detection]] = field(default_factory=list)

    @property
    def box(self) -> np.ndarray:
        """Filtered box x1, y1, x2, y2 (float32)."""
        return _to_xyxy(self.state_vec)

    def keep_pad_view(self, quality: float, frame_bgr: np.ndarray, detection: Detection, limit: int) -> bool:
        """Keep the part of this frame PAD reads when its quality is among the track's `limit` best (memory stays
        bounded: `limit` small crops); a face PAD cannot read (too small, outside the frame) is not kept."""
        if limit < 1 or (len(self.pad_views) >= limit and quality <= self.pad_views[-1][0]):
            return False
        try:
            region, moved = pad_region(frame_bgr, detection)
        except PadInputError:
            return False
        self.pad_views.append((float(quality), region, moved))
        self.pad_views.sort(key=lambda v: v[0], reverse=True)
        del self.pad_views[limit:]
        return True

    def predicted(self, frame: int) -> np.ndarray:
        dt = frame - self.last_frame
        pred = self.state_vec + self.velocity * dt
        pred[2:] = np.maximum(pred[2:], 1.0)
        return pred


@dataclass(frozen=True)
class TrackerUpdate:
    """Result of one frame: confirmed tracks matched in it, and tracks that ended with it."""

    frame: int
    active: list[Track]
    finished: list[Track]


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in a (N,4) with every box in b (M,4)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class FaceTracker:
    """Associates detections across frames; call `update()` once per frame, in frame order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[Track] = []
        self._next_id = 1
        self._frame = -1

    @property
    def tracks(self) -> list[Track]:
        """Live tracks (tentative, confirmed or lost)."""
        return list(self._tracks)

    def update(self, detections: list[Detection], timestamp: float | None = None) -> TrackerUpdate:
        cfg = self.config
        self._frame += 1
        frame = self._frame
        ts = float(frame) if timestamp is None else float(timestamp)
        high = [d for d in detections if d.score >= cfg.high_score]
        low = [d for d in detections if cfg.low_score <= d.score < cfg.high_score]

        established = [t for t in self._tracks if t.state in (TrackState.CONFIRMED, TrackState.LOST)]
        tentative = [t for t in self._tracks if t.state is TrackState.TENTATIVE]

        matched: list[tuple[Track, Detection]] = []
        # 1. established tracks with high-score detections
        pairs, est_left, high_left = self._associate(established, high, frame)
        matched += pairs
        # 2. tracks that were tracked in the previous frame with low-score detections
        recent = [t for t in est_left if t.state is TrackState.CONFIRMED]
        pairs, recent_left, _ = self._associate(recent, low, frame)
        matched += pairs
        # 3. tentative tracks with what is left of the high-score detections
        pairs, tent_left, high_left = self._associate(tentative, high_left, frame)
        matched += pairs

        for track, det in matched:
            self._correct(track, det, frame, ts)

        finished: list[Track] = []
        unmatched = [t for t in est_left if t not in recent or t in recent_left] + tent_left
        for track in unmatched:
            track.detection = None
            if track.state is TrackState.TENTATIVE:
                track.state = TrackState.ENDED
                continue
            track.state = TrackState.LOST
            track.lost_frames += 1
            if track.lost_frames > cfg.max_lost:
                track.state = TrackState.ENDED
                finished.append(track)

        for det in high_left:
            self._birth(det, frame, ts, confirmed=(frame == 0))

        self._tracks = [t for t in self._tracks if t.state is not TrackState.ENDED]
        active = [t for t in self._tracks if t.state is TrackState.CONFIRMED and t.detection is not None]
        return TrackerUpdate(frame, sorted(active, key=lambda t: t.track_id), finished)

    def flush(self) -> list[Track]:
        """End every confirmed or lost track (end of stream); returns them, tentative ones are dropped."""
        done = [t for t in self._tracks if t.state in (TrackState.CONFIRMED, TrackState.LOST)]
        for t in self._tracks:
            t.state = TrackState.ENDED
            t.detection = None
        self._tracks = []
        return done

    # ---- internals -----------------------------------------------------------------------------
    def _associate(self, tracks: list[Track], dets: list[Detection], frame: int
                   ) -> tuple[list[tuple[Track, Detection]], list[Track], list[Detection]]:
        if not tracks or not dets:
            return [], list(tracks), list(dets)
        cfg = self.config
        preds = np.stack([t.predicted(frame) for t in tracks])
        pred_boxes = np.stack([_to_xyxy(p) for p in preds])
        det_boxes = np.stack([np.asarray(d.box, dtype=np.float32) for d in dets])
        iou = _iou_matrix(pred_boxes, det_boxes)
        det_c = (det_boxes[:, :2] + det_boxes[:, 2:]) / 2
        size = np.sqrt(preds[:, 2] * preds[:, 3])
        dist = np.linalg.norm(preds[:, None, :2] - det_c[None, :, :], axis=2) / size[:, None]
        det_size = np.sqrt((det_boxes[:, 2] - det_boxes[:, 0]) * (det_boxes[:, 3] - det_boxes[:, 1]))
        scale = det_size[None, :] / size[:, None]
        ok = ((iou >= cfg.min_iou) | (dist <= cfg.max_centre_dist)) & (scale > 0.5) & (scale < 2.0)
        cost = np.where(ok, (1.0 - iou) + dist, _INF)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(tracks[r], dets[c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _INF]
        used_t = {id(t) for t, _ in pairs}
        used_d = {id(d) for _, d in pairs}
        return (pairs, [t for t in tracks if id(t) not in used_t], [d for d in dets if id(d) not in used_d])

    def _correct(self, track: Track, det: Detection, frame: int, ts: float) -> None:
        cfg = self.config
        dt = max(frame - track.last_frame, 1)
        pred = track.predicted(frame)
        z = _to_cxcywh(det.box)
        resid = z - pred
        track.state_vec = pred + cfg.alpha * resid
        track.velocity = track.velocity + cfg.beta * resid / dt
        track.detection = det
        track.score = float(det.score)
        track.max_face_px = max(track.max_face_px, det.width)
        track.last_frame = frame
        track.last_ts = ts
        track.lost_frames = 0
        track.history.append(frame)
        track.hits += 1
        if track.state is TrackState.LOST or (track.state is TrackState.TENTATIVE
                                              and track.hits >= cfg.min_hits):
            track.state = TrackState.CONFIRMED

    def _birth(self, det: Detection, frame: int, ts: float, confirmed: bool) -> None:
        track = Track(track_id=self._next_id, state_vec=_to_cxcywh(det.box), velocity=np.zeros(4),
                      score=float(det.score), detection=det, first_ts=ts, last_ts=ts, first_frame=frame,
                      last_frame=frame, history=[frame], max_face_px=det.width)
        if confirmed or self.config.min_hits <= 1:
            track.state = TrackState.CONFIRMED
        self._next_id += 1
        self._tracks.append(track)
