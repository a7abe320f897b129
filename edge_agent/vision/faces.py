"""Refine -> align -> embed: the one way faces become embeddings, for enrolment and recognition alike."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.align import align_faces
from edge_agent.vision.detector import YuNetDetector
from edge_agent.vision.embedder import Embedder
from edge_agent.vision.types import Detection


def embed_detections(image_bgr: np.ndarray, detections: list[Detection], detector: YuNetDetector,
                     embedder: Embedder, refine: bool = True) -> np.ndarray:
    """Embeddings (N, D) of `detections`, their landmarks re-measured by `detector` first when `refine`."""
    if not detections:
        return np.zeros((0, embedder.dim), np.float32)
    if refine:
        detections = detector.refine_all(image_bgr, detections)
    return embedder.embed(align_faces(image_bgr, [d.landmarks for d in detections]))
