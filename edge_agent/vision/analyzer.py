"""detect → align → embed → quality in one object, the same for enrolment and recognition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.embedder import Embedder
from edge_agent.vision.faces import embed_detections
from edge_agent.vision.landmarks import OnetLandmarker
from edge_agent.vision.quality import Quality, QualityGate, assess
from edge_agent.vision.types import Detection
from models import ModelStore


@dataclass(frozen=True)
class AnalyzedFace:
    detection: Detection
    embedding: np.ndarray  # (D,) float32, L2-normalised
    quality: Quality


class FaceAnalyzer:
    def __init__(self, detector: YuNetDetector, embedder: Embedder, gate: QualityGate | None = None):
        self.detector = detector
        self.embedder = embedder
        self.gate = gate or QualityGate()

    @classmethod
    def from_store(cls, store=None, threads: int = 1, flip: bool = True, detector_name: str | None = None,
                   embedder_name: str | None = None, **detector_kwargs) -> FaceAnalyzer:
        """The default (or named) detector and embedder of the model store, verified by sha256, with the
        store's default landmarks model (ONet) re-measuring the points faces are aligned on."""
        if store is None:
            store = ModelStore()
        det_entry = store.entry(detector_name) if detector_name else store.default("detector")
        emb_entry = store.entry(embedder_name) if embedder_name else store.default("embedder")
        detector_kwargs.setdefault("landmarker", OnetLandmarker.from_store(store, threads=threads))
        detector = YuNetDetector(store.path(det_entry.name), threads=threads, **detector_kwargs)
        embedder = Embedder(store.path(emb_entry.name), emb_entry, threads=threads, flip=flip)
        return cls(detector, embedder)

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def detect(self, image_bgr: np.ndarray, padded: bool = False) -> list[Detection]:
        return self.detector.detect_padded(image_bgr) if padded else self.detector.detect(image_bgr)

    def refine(self, image_bgr: np.ndarray, detections: list[Detection]) -> list[Detection]:
        """Detections with landmarks refined for alignment (unchanged when the detector's refinement is off)."""
        return self.detector.refine_all(image_bgr, detections)

    def embed_faces(self, image_bgr: np.ndarray, detections: list[Detection], refined: bool = False) -> np.ndarray:
        """Embeddings of `detections`; their landmarks are refined first unless `refined` says it was done."""
        return embed_detections(image_bgr, detections, self.detector, self.embedder, refine=not refined)

    def quality(self, image_bgr: np.ndarray, raw: Detection, refined: Detection, gate: QualityGate | None = None
                ) -> Quality:
        """`assess` on the refined (alignment) landmarks, the pose read on the detector's own refined points."""
        pose = self.detector.refine_on_crop(image_bgr, raw).landmarks if self.detector.landmarker else None
        return assess(image_bgr, refined, gate or self.gate, pose_landmarks=pose)

    def analyze(self, image_bgr: np.ndarray, all_faces: bool = False, padded: bool = True) -> list[AnalyzedFace]:
        """Every face (or only the largest), embedded and scored; `padded` retries tight crops."""
        found = self.detect(image_bgr, padded=padded)
        if not all_faces and found:
            found = [max(found, key=lambda d: d.width * d.height)]
        refined = self.refine(image_bgr, found)  # the landmarks faces are aligned on
        embeddings = self.embed_faces(image_bgr, refined, refined=True)
        return [AnalyzedFace(r, e, self.quality(image_bgr, d, r))
                for d, r, e in zip(found, refined, embeddings, strict=True)]
