"""5-point similarity alignment to the 112x112 ArcFace template (insightface's `norm_crop`).

The same function serves enrolment and recognition, so enrolled and live embeddings are comparable.
"""

from __future__ import annotations

import warnings

import numpy as np
from insightface.utils import face_align

ALIGNED_SIZE = 112


def align_face(image_bgr: np.ndarray, landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The face warped onto the ArcFace template: a (size, size, 3) uint8 BGR crop."""
    lmk = np.asarray(landmarks, dtype=np.float32)
    if lmk.shape != (5, 2) or not np.all(np.isfinite(lmk)):
        raise ValueError(f"align_face() needs 5 finite (x, y) landmarks, got shape {lmk.shape}")
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError("align_face() needs an (H, W, 3) BGR image")
    with warnings.catch_warnings():  # scikit-image 0.26 deprecates the call norm_crop makes
        warnings.simplefilter("ignore", FutureWarning)
        return face_align.norm_crop(image_bgr, landmark=lmk, image_size=size)


def align_faces(image_bgr: np.ndarray, landmarks: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Several faces of one image as an (N, 112, 112, 3) batch."""
    crops = [align_face(image_bgr, lmk) for lmk in landmarks]
    if not crops:
        return np.zeros((0, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8)
    return np.stack(crops)
