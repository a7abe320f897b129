"""Presentation-attack detection (PAD): is the face in front of the camera a live person or a photo / screen?

The model is the project's own (benchmarks/train_pad.py trains it; models/manifest.toml, entry `pad_nuaa_lr`,
says on what data and under which terms). It is a logistic regression over the hand-crafted cues of
`pad_features` (face texture and frequency, colour, the frame around the face), stored as a small ONNX graph
(standardise -> linear -> sigmoid) and run with onnxruntime like the other models. Its metadata carries the
feature version it was trained on and the decision threshold chosen on subject-disjoint cross-validation.

One score per face crop (`score`), one decision per track (`aggregate_track` / `score_track`): the mean
attack probability of a few of the track's best frames, computed once per track, not per frame.
ISO/IEC 30107-3 wording: an "attack" score above the threshold flags the track (a live face flagged is
a BPCER error, an attack passed is an APCER error).

Scope (benchmarks/RESULTS.md, section pad): on the camera it was trained for (NUAA's webcam, printed photos)
it meets BPCER <= 1 % with APCER 3 % for people it never saw; on other cameras its scores shift (most live
walkers of another video are flagged), so a site runs it in report-only mode until it is retrained on that
camera's own live and recaptured faces or its threshold is set with `calibrate_threshold`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_agent.vision.detector import session_options
from edge_agent.vision.pad_features import FEATURE_VERSION, N_FEATURES, PadInputError, pad_features
from edge_agent.vision.types import Detection

TRACK_FRAMES = 3  # frames of a track that are scored (the best by quality, as the embedder uses)


@dataclass(frozen=True)
class PadDecision:
    """The verdict on one track: `attack` is True when `score` (0..1) is at or above `threshold`."""

    score: float
    threshold: float
    attack: bool
    frames: int  # frames that were scored
    reason: str = ""  # Vietnamese, for the teacher's review band (empty when live)


REASON_VI = "nghi ngờ ảnh/màn hình"


class PresentationAttackDetector:
    """`prepare()` loads and checks the model; `score(frame, detection)` is the attack probability of one face."""

    def __init__(self, model_path: str | Path):
        self.model_path = Path(model_path)
        self.session: ort.InferenceSession | None = None
        self.threshold = float("nan")
        self.meta: dict[str, str] = {}

    @classmethod
    def from_store(cls, store=None, threads: int = 1, name: str | None = None) -> PresentationAttackDetector:
        """The store's default (or named) liveness model, verified by sha256, prepared."""
        if store is None:
            from models import ModelStore  # keeps the model store out of imports that never load a model

            store = ModelStore()
        entry = store.entry(name) if name else store.default("liveness")
        return cls(store.path(entry.name)).prepare(threads=threads)

    def prepare(self, threads: int = 1) -> PresentationAttackDetector:
        session = ort.InferenceSession(str(self.model_path), sess_options=session_options(threads),
                                       providers=["CPUExecutionProvider"])
        meta = dict(session.get_modelmeta().custom_metadata_map)
        if meta.get("feature_version") != FEATURE_VERSION:
            raise ValueError(f"{self.model_path}: PAD model trained on features {meta.get('feature_version')!r}, "
                             f"this code computes {FEATURE_VERSION!r}: retrain it (benchmarks/train_pad.py)")
        inp = session.get_inputs()[0]
        if inp.shape[-1] != N_FEATURES:
            raise ValueError(f"{self.model_path}: PAD model expects {inp.shape[-1]} features, not {N_FEATURES}")
        threshold = float(meta.get("threshold", "nan"))
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"{self.model_path}: PAD model has no valid decision threshold in its metadata")
        self.session, self.meta, self.threshold = session, meta, threshold
        self._input, self._output = inp.name, session.get_outputs()[0].name
        return self

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """Attack probabilities of an (N, N_FEATURES) feature matrix."""
        if self.session is None:
            raise RuntimeError("PresentationAttackDetector.prepare() was not called")
        x = np.ascontiguousarray(np.atleast_2d(features), dtype=np.float32)
        if x.shape[1] != N_FEATURES or not np.all(np.isfinite(x)):
            raise PadInputError(f"PAD features must be finite and (N, {N_FEATURES}), got {x.shape}")
        return self.session.run([self._output], {self._input: x})[0].reshape(-1)

    def score(self, frame_bgr: np.ndarray, detection: Detection) -> float:
        """Attack probability (0 = live, 1 = photo / screen) of the face `detection` found in `frame_bgr`."""
        return float(self.score_features(pad_features(frame_bgr, detection))[0])

    def score_track(self, frames: Sequence[tuple[np.ndarray, Detection]], max_frames: int = TRACK_FRAMES
                    ) -> PadDecision:
        """The decision on a track from its (frame, detection) pairs, best first: the first `max_frames`
        scorable ones are scored (faces too small for PAD are skipped); `PadInputError` if none is."""
        scores = []
        for frame, det in frames:
            if len(scores) >= max_frames:
                break
            try:
                scores.append(self.score(frame, det))
            except PadInputError:
                continue  # e.g. a face still too small in this frame; aggregate_track fails if none is left
        return aggregate_track(scores, self.threshold)


def calibrate_threshold(live_scores: Sequence[float], target_bpcer: float = 0.01) -> float:
    """The lowest threshold that flags at most `target_bpcer` of `live_scores` (track scores of live people).

    Training uses it on cross-validated scores; a site uses it on the track scores of its own camera's
    teacher-confirmed live tracks, since the scores of a camera the model was not trained on shift."""
    live = np.sort(np.asarray(list(live_scores), np.float64))
    if live.size == 0 or not np.all((live >= 0.0) & (live <= 1.0)):
        raise PadInputError("calibrate_threshold() needs live track scores in [0, 1]")
    if not 0.0 <= target_bpcer < 1.0:
        raise PadInputError(f"target BPCER must lie in [0, 1), got {target_bpcer}")
    allowed = int(np.floor(target_bpcer * live.size))
    upper = live[live.size - allowed] if allowed else 1.0
    return float((live[live.size - allowed - 1] + upper) / 2)


def aggregate_track(scores: Sequence[float], threshold: float) -> PadDecision:
    """One decision from the attack probabilities of a track's frames: their mean against `threshold`."""
    values = np.asarray(list(scores), dtype=np.float64)
    if values.size == 0:
        raise PadInputError("no frame of the track could be scored for PAD (faces too small or invalid)")
    if not np.all((values >= 0.0) & (values <= 1.0)):
        raise PadInputError("PAD frame scores must be probabilities in [0, 1]")
    if not 0.0 < threshold < 1.0:
        raise PadInputError(f"PAD threshold must lie in (0, 1), got {threshold}")
    score = float(values.mean())
    attack = score >= threshold
    return PadDecision(score=score, threshold=float(threshold), attack=attack, frames=int(values.size),
                       reason=REASON_VI if attack else "")
